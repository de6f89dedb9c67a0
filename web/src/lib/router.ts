// A small History API router: the gateway answers index.html for every GET outside /api/, so
// each page has a real URL that survives a reload.
import { writable } from 'svelte/store';

export interface Location {
  path: string;
  query: URLSearchParams;
}

function read(): Location {
  const l = globalThis.location;
  return { path: l?.pathname ?? '/', query: new URLSearchParams(l?.search ?? '') };
}

export const location = writable<Location>(read());

export function navigate(to: string, replace = false) {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  location.set(read());
  globalThis.scrollTo?.(0, 0);
}

globalThis.addEventListener?.('popstate', () => location.set(read()));

/** match returns the parameters of path against a pattern like /jobs/:id, or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) out[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return out;
}

/** link makes an <a> navigate inside the app (a normal link otherwise: new tab, modifiers). */
export function link(node: HTMLAnchorElement) {
  const onClick = (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const href = node.getAttribute('href');
    if (!href || !href.startsWith('/')) return;
    e.preventDefault();
    navigate(href);
  };
  node.addEventListener('click', onClick);
  return { destroy: () => node.removeEventListener('click', onClick) };
}
