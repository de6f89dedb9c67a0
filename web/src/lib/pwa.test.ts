import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isApi, isAsset, isPage, manifest, peopleFiles, precached, pwa } from '../../pwa.config';
import { icons, render } from '../../scripts/icons.mjs';

const publicDir = new URL('../../public/', import.meta.url).pathname;

describe('the precache list', () => {
  // A Vite manifest as the build writes it: the entry imports a shared chunk statically and the
  // operators' section dynamically.
  const vite = {
    'index.html': { file: 'assets/index-a1.js', isEntry: true, imports: ['_shared-b2.js'], css: ['assets/index-c3.css'], dynamicImports: ['src/ops/Operators.svelte'] },
    '_shared-b2.js': { file: 'assets/shared-b2.js' },
    'src/ops/Operators.svelte': { file: 'assets/Operators-d4.js', imports: ['_shared-b2.js', '_uplot-e5.js'], css: ['assets/Operators-f6.css'] },
    '_uplot-e5.js': { file: 'assets/uplot-e5.js' },
  };
  const people = peopleFiles(vite);

  it('holds the people’s entry, what it imports statically and its CSS', () => {
    expect([...people].sort()).toEqual(['assets/index-a1.js', 'assets/index-c3.css', 'assets/shared-b2.js']);
  });

  it.each([
    ['index.html', true],
    ['manifest.webmanifest', true],
    ['icons/icon-192.png', true],
    ['assets/index-a1.js', true],
    ['/assets/shared-b2.js', true],
    ['assets/Operators-d4.js', false], // a person never downloads the operators' code
    ['assets/uplot-e5.js', false],
    ['assets/Operators-f6.css', false],
  ])('%s → %s', (url, want) => {
    expect(precached(url, people)).toBe(want);
  });
});

describe('the service worker’s routes', () => {
  const at = (path: string, mode: RequestMode = 'cors') => ({ url: new URL('https://dw.example' + path), request: { mode } as Request });
  it.each([
    ['/api/v1/me', 'cors', { api: true, page: false, asset: false }],
    ['/api/v1/ws', 'websocket' as RequestMode, { api: true, page: false, asset: false }],
    ['/api/v1/payments/sandbox/pay', 'navigate', { api: true, page: false, asset: false }], // a node's page: never the app shell
    ['/api', 'cors', { api: true, page: false, asset: false }],
    ['/apiary', 'navigate', { api: false, page: true, asset: false }],
    ['/wallet', 'navigate', { api: false, page: true, asset: false }],
    ['/reset-password', 'navigate', { api: false, page: true, asset: false }],
    ['/assets/index-a1.js', 'cors', { api: false, page: false, asset: true }],
  ] as const)('%s (%s)', (path, mode, want) => {
    const c = at(path, mode as RequestMode);
    expect({ api: isApi(c), page: isPage(c), asset: isAsset(c) }).toEqual(want);
  });

  it('never caches an API answer: the API is network only, and the first rule', () => {
    const rules = pwa.workbox!.runtimeCaching!;
    expect(rules[0].urlPattern).toBe(isApi);
    expect(rules[0].handler).toBe('NetworkOnly');
    expect(rules.filter((r) => r.handler !== 'NetworkOnly').map((r) => r.urlPattern)).toEqual([isAsset]);
    // pages: the network, and the precached shell only when it cannot be reached
    const page = rules.find((r) => r.urlPattern === isPage)!;
    expect(page.handler).toBe('NetworkOnly');
    expect(page.options?.precacheFallback?.fallbackURL).toBe('index.html');
    expect(pwa.workbox!.navigateFallback).toBeNull();
  });

  it('imports the Web Push handlers, built beside it as sw-push.js', () => {
    expect(pwa.workbox!.importScripts).toEqual(['sw-push.js']);
  });

  it('is registered by main.ts, not by an inline script (the CSP forbids them)', () => {
    expect(pwa.injectRegister).toBe(false);
    expect(readFileSync(new URL('../main.ts', import.meta.url), 'utf8')).toContain("serviceWorker.register('/sw.js'");
  });
});

describe('the web app manifest', () => {
  const m = manifest as Exclude<typeof manifest, false | undefined>;
  it('names the app in both languages and starts at /', () => {
    expect(m.name).toContain('神諭細語');
    expect(m.name).toContain('Divine Whispers');
    expect(m.start_url).toBe('/');
    expect(m.display).toBe('standalone');
  });

  it('has 192 and 512 px icons and a maskable one, committed at their sizes, as scripts/icons.mjs draws them', () => {
    const purposes = new Set(m.icons!.map((i) => i.purpose));
    expect(purposes).toEqual(new Set(['any', 'maskable']));
    expect(m.icons!.map((i) => i.sizes)).toEqual(expect.arrayContaining(['192x192', '512x512']));
    for (const icon of m.icons!) {
      const png = readFileSync(publicDir + icon.src!.replace(/^\//, ''));
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
      expect(`${w}x${h}`).toBe(icon.sizes);
    }
    for (const { file, size, kind } of icons) {
      expect(readFileSync(publicDir + 'icons/' + file).equals(render(size, kind)), file).toBe(true);
    }
  }, 60_000); // drawing the icons takes a second or two, more on a busy machine
});
