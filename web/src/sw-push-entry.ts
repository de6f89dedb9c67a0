// The service worker's own script beside Workbox's: vite.config.ts builds it to sw-push.js,
// which the generated sw.js imports (workbox.importScripts in pwa.config.ts).
import { installPushHandlers, type PushScope } from './lib/sw-push';

installPushHandlers(self as unknown as PushScope);
