import { build, defineConfig, type Plugin } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';
import { pwa } from './pwa.config.ts';

// swPush builds src/sw-push-entry.ts (Web Push's handlers) into sw-push.js, one classic script
// for the service worker's importScripts (a worker made by generateSW cannot import modules).
function swPush(): Plugin {
  return {
    name: 'dw-sw-push',
    apply: 'build',
    async generateBundle() {
      const out = await build({
        configFile: false,
        logLevel: 'warn',
        build: {
          write: false,
          emptyOutDir: false,
          minify: true,
          lib: { entry: 'src/sw-push-entry.ts', formats: ['iife'], name: 'dwSwPush', fileName: () => 'sw-push.js' },
        },
      });
      const first = (Array.isArray(out) ? out[0] : out) as { output: { type: string; code?: string }[] };
      const chunk = first.output.find((o) => o.type === 'chunk');
      if (!chunk?.code) throw new Error('sw-push: no code built');
      this.emitFile({ type: 'asset', fileName: 'sw-push.js', source: chunk.code });
    },
  };
}

// The build goes to build/app, which the Go package web embeds (build/.keep keeps the
// directory in git; build/app is ignored). No inline scripts or styles: the gateway's CSP is
// default-src 'self'.
export default defineConfig({
  plugins: [svelte(), swPush(), VitePWA(pwa)],
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
