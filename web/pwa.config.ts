// The installable app: the web app manifest and the service worker, made by vite-plugin-pwa
// (Workbox's generateSW). The service worker precaches the app shell (index.html, the people's
// scripts and styles, icons, manifest) so the app opens offline. It never caches an API answer:
// /api/ goes to the network only. Navigations go to the network too (the node's own pages stay
// the node's) and fall back to the precached index.html when it cannot be reached. The
// operators' chunks are not precached (a person never downloads them); once loaded they are
// kept by a cache-first rule for /assets/, whose names change with their content.
import { readFileSync } from 'node:fs';
import type { VitePWAOptions } from 'vite-plugin-pwa';

export const outDir = 'build/app';

interface ViteChunk {
  file: string;
  isEntry?: boolean;
  imports?: string[];
  css?: string[];
  assets?: string[];
}

/** peopleFiles: the files the entry loads (itself, its static imports, their CSS and assets), from Vite's manifest. */
export function peopleFiles(manifest: Record<string, ViteChunk>): Set<string> {
  const out = new Set<string>();
  const seen = new Set<string>();
  const walk = (key: string) => {
    const c = manifest[key];
    if (!c || seen.has(key)) return;
    seen.add(key);
    out.add(c.file);
    for (const f of [...(c.css ?? []), ...(c.assets ?? [])]) out.add(f);
    for (const i of c.imports ?? []) walk(i);
  };
  for (const [k, c] of Object.entries(manifest)) if (c.isEntry) walk(k);
  return out;
}

/** precached tells whether a built file belongs in the precache: anything outside assets/, and the people's assets. */
export function precached(url: string, people: Set<string>): boolean {
  const u = url.replace(/^\//, '');
  return !u.startsWith('assets/') || people.has(u);
}

// Workbox copies these predicates into the service worker as source: each stands alone.
/** isApi: the API and the WebSocket's path: network only, never cached. */
export const isApi = ({ url }: { url: URL }) => url.pathname === '/api' || url.pathname.startsWith('/api/');
/** isPage: a navigation to one of the app's pages (not to the API, e.g. a payment provider's return through it). */
export const isPage = ({ request, url }: { request: Request; url: URL }) =>
  request.mode === 'navigate' && !(url.pathname === '/api' || url.pathname.startsWith('/api/'));
/** isAsset: a content-hashed file under /assets/. */
export const isAsset = ({ url }: { url: URL }) => url.pathname.startsWith('/assets/');

export const manifest: VitePWAOptions['manifest'] = {
  name: '神諭細語 Divine Whispers',
  short_name: '神諭細語',
  description: 'Temple fortune poems (籤詩), read for your own question · 廟裡的籤詩，為你的問題細細解讀',
  lang: 'zh-TW',
  start_url: '/',
  scope: '/',
  id: '/',
  display: 'standalone',
  orientation: 'portrait',
  theme_color: '#7a1f1f',
  background_color: '#fbf6ec',
  categories: ['lifestyle'],
  icons: [
    { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
    { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
    { src: '/icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
  ],
};

export const pwa: Partial<VitePWAOptions> = {
  registerType: 'autoUpdate', // a new build's worker takes over at once (skipWaiting, clientsClaim)
  injectRegister: false, // src/main.ts registers it (no inline script: the CSP is default-src 'self')
  manifestFilename: 'manifest.webmanifest',
  includeAssets: [], // globPatterns below finds them all
  includeManifestIcons: false,
  manifest,
  workbox: {
    globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
    globIgnores: ['.vite/**'],
    importScripts: ['sw-push.js'], // Web Push's push and notificationclick handlers (src/lib/sw-push.ts)
    cleanupOutdatedCaches: true,
    skipWaiting: true, // a new build's worker takes over at once, and controls the open pages
    clientsClaim: true,
    navigateFallback: null,
    manifestTransforms: [
      async (entries) => {
        const vite = JSON.parse(readFileSync(`${outDir}/.vite/manifest.json`, 'utf8')) as Record<string, ViteChunk>;
        const people = peopleFiles(vite);
        return { manifest: entries.filter((e) => precached(e.url, people)), warnings: [] };
      },
    ],
    runtimeCaching: [
      { urlPattern: isApi, handler: 'NetworkOnly' },
      { urlPattern: isPage, handler: 'NetworkOnly', options: { precacheFallback: { fallbackURL: 'index.html' } } },
      { urlPattern: isAsset, handler: 'CacheFirst', options: { cacheName: 'dw-assets', expiration: { maxEntries: 60 } } },
    ],
  },
};
