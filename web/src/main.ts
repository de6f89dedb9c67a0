/// <reference types="vite/client" />
import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';

mount(App, { target: document.getElementById('app')! });

// The service worker (built by vite-plugin-pwa, see pwa.config.ts) keeps the app shell for
// offline use; registered after the page has loaded so it does not compete with the first paint.
if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  addEventListener('load', () => {
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {
      /* no worker (private mode, an old browser): the app works online as before */
    });
  });
}
