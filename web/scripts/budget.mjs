// The JavaScript budget of the people's pages: the scripts index.html's entry loads (the entry
// and the chunks it imports statically, followed through Vite's manifest), gzipped, must stay
// within 200 KB. The operators' section is a dynamic import: its chunks (with the chart
// library) are listed apart and never count against the people's budget.
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const limit = 200 * 1024;
const root = new URL('../build/app/', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(root, '.vite/manifest.json'), 'utf8'));
// Read once here, then removed: the binary embeds build/app and would serve it for nothing.
rmSync(join(root, '.vite'), { recursive: true, force: true });
const gz = (file) => gzipSync(readFileSync(join(root, file)), { level: 9 }).length;

const entries = Object.keys(manifest).filter((k) => manifest[k].isEntry);
if (entries.length !== 1) throw new Error(`want one entry in the manifest, found ${entries.join(', ')}`);
const people = new Set();
const walk = (key) => {
  const c = manifest[key];
  if (!c || people.has(c.file)) return;
  people.add(c.file);
  for (const i of c.imports ?? []) walk(i);
};
walk(entries[0]);

let total = 0;
for (const file of people) {
  const size = gz(file);
  total += size;
  console.log(`  ${file}: ${(size / 1024).toFixed(1)} KB gzipped`);
}
let other = 0;
for (const name of readdirSync(join(root, 'assets'))) {
  const file = 'assets/' + name;
  if (name.endsWith('.js') && !people.has(file)) other += gz(file);
}
const verdict = total <= limit ? 'within' : 'OVER';
console.log(`People's JavaScript: ${(total / 1024).toFixed(1)} KB gzipped, ${verdict} the budget of ${limit / 1024} KB`);
console.log(`Loaded on demand (the operators' section): ${(other / 1024).toFixed(1)} KB gzipped, not counted`);
if (total > limit) process.exit(1);
