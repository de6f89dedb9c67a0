// The app's icons, drawn here from a few shapes (no copied image): a red tile with a gold
// cup of fortune sticks (籤筒), the favicon's drawing at PNG sizes for the web app manifest and
// iOS. `node scripts/icons.mjs` writes them under public/icons (committed); a Vitest test
// checks the committed files are what this script draws.
import { writeFileSync, mkdirSync } from 'node:fs';
import { PNG } from 'pngjs';

const red = [0x7a, 0x1f, 0x1f];
const gold = [0xf4, 0xd5, 0x8d];

// The drawing on a 32 × 32 grid (as favicon.svg): three sticks, the cup's rim and its body.
const glyph = [
  [12.3, 6, 13.7, 13], // sticks: x0, y0, x1, y1
  [15.3, 4, 16.7, 13],
  [18.3, 7, 19.7, 13],
  [9, 12, 23, 14.5], // rim
  [11, 15.5, 21, 26], // body
];

/** The icons: file name, size in pixels, and kind (any: rounded tile; maskable: full bleed, the drawing inside the safe circle; opaque: full bleed for iOS). */
export const icons = [
  { file: 'icon-192.png', size: 192, kind: 'any' },
  { file: 'icon-512.png', size: 512, kind: 'any' },
  { file: 'maskable-512.png', size: 512, kind: 'maskable' },
  { file: 'apple-touch-icon.png', size: 180, kind: 'opaque' },
];

function inTile(x, y, kind) {
  if (kind !== 'any') return true;
  const r = 6; // corner radius, as the favicon's rx
  const cx = Math.min(Math.max(x, r), 32 - r);
  const cy = Math.min(Math.max(y, r), 32 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}

function inGlyph(x, y, kind) {
  // The maskable icon's drawing is scaled to 80 % about the centre: inside the 40 % safe circle.
  const s = kind === 'maskable' ? 0.8 : 1;
  const gx = 16 + (x - 16) / s;
  const gy = 16 + (y - 16) / s;
  return glyph.some(([x0, y0, x1, y1]) => gx >= x0 && gx < x1 && gy >= y0 && gy < y1);
}

/** render draws one icon into PNG bytes (4 × 4 samples a pixel for smooth edges). */
export function render(size, kind) {
  const png = new PNG({ width: size, height: size });
  const n = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let tile = 0;
      let mark = 0;
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          const x = ((px + (sx + 0.5) / n) * 32) / size;
          const y = ((py + (sy + 0.5) / n) * 32) / size;
          if (!inTile(x, y, kind)) continue;
          tile++;
          if (inGlyph(x, y, kind)) mark++;
        }
      }
      const i = (py * size + px) * 4;
      const a = tile / (n * n);
      const g = tile ? mark / tile : 0;
      for (let c = 0; c < 3; c++) png.data[i + c] = Math.round(red[c] * (1 - g) + gold[c] * g);
      png.data[i + 3] = Math.round(a * 255);
    }
  }
  return PNG.sync.write(png, { colorType: 6, deflateLevel: 9 });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = new URL('../public/icons/', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  for (const { file, size, kind } of icons) {
    writeFileSync(dir + file, render(size, kind));
    console.log('wrote public/icons/' + file);
  }
}
