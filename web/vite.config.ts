import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';
import { pwa } from './pwa.config.ts';

// The build goes to build/app, which the Go package web embeds (build/.keep keeps the
// directory in git; build/app is ignored). No inline scripts or styles: the gateway's CSP is
// default-src 'self'.
export default defineConfig({
  plugins: [svelte(), VitePWA(pwa)],
  build: {
    outDir: 'build/app',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    manifest: true, // scripts/budget.mjs follows the people's entry through it
  },
  server: { proxy: { '/api': { target: 'http://127.0.0.1:8080', ws: true } } },
  test: { include: ['src/**/*.test.ts'], environment: 'node' },
});
