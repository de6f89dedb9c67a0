// The service worker's side of Web Push: the node's notice ({title, body, url, tag}, encrypted
// for this browser and decrypted by it) becomes a notification, and a click on it brings the
// app's tab forward on the notice's page (or opens one). The service worker imports this and
// calls installPushHandlers(self).
//
// The types are the part of ServiceWorkerGlobalScope these handlers use (the app's TypeScript
// is checked with the DOM library, which lacks the worker's): the real scope fits them.

/** The JSON the node sends (push.Message). */
export interface PushMessage {
  title: string;
  body: string;
  url: string;
  tag?: string;
}

interface ExtendableEventLike extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface PushEventLike extends ExtendableEventLike {
  readonly data: { json(): unknown; text(): string } | null;
}
interface NotificationEventLike extends ExtendableEventLike {
  readonly notification: { readonly data?: unknown; close(): void };
}
export interface WindowClientLike {
  readonly url: string;
  readonly focused?: boolean;
  focus(): Promise<unknown>;
  navigate(url: string): Promise<unknown>;
}

/** The part of ServiceWorkerGlobalScope installPushHandlers uses. */
export interface PushScope {
  addEventListener(type: string, listener: (ev: Event) => void): void;
  readonly location: { readonly origin: string };
  readonly registration: { showNotification(title: string, options?: NotificationOptions): Promise<void> };
  readonly clients: {
    matchAll(options?: { type?: 'window' | 'worker' | 'sharedworker' | 'all'; includeUncontrolled?: boolean }): Promise<readonly unknown[]>;
    openWindow(url: string): Promise<unknown>;
  };
}

export const icon = '/icons/icon-192.png';
const fallbackTitle = 'Divine Whispers · 神諭細語';

/** sameOriginPath keeps a notice's url inside the app: a path of origin, else "/". */
export function sameOriginPath(url: unknown, origin: string): string {
  if (typeof url !== 'string' || url === '') return '/';
  try {
    const u = new URL(url, origin);
    return u.origin === origin ? u.pathname + u.search + u.hash : '/';
  } catch {
    return '/';
  }
}

/** parseMessage reads a push's data defensively: every push must show a notification (userVisibleOnly), so a malformed one shows the app's name. */
export function parseMessage(data: PushEventLike['data'], origin: string): PushMessage {
  let raw: Record<string, unknown> = {};
  try {
    const v = data?.json();
    if (v && typeof v === 'object') raw = v as Record<string, unknown>;
  } catch {
    const text = data?.text();
    if (text) raw = { body: text };
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    title: str(raw.title) || fallbackTitle,
    body: str(raw.body),
    url: sameOriginPath(raw.url, origin),
    tag: str(raw.tag) || undefined,
  };
}

function isWindowClient(c: unknown): c is WindowClientLike {
  return !!c && typeof (c as WindowClientLike).url === 'string' && typeof (c as WindowClientLike).focus === 'function';
}

/** openApp focuses a tab of the app (the focused one first) on path, navigating it there; with no tab, or one that cannot be navigated, it opens a window. */
export async function openApp(sw: PushScope, path: string): Promise<void> {
  const origin = sw.location.origin;
  const target = new URL(path, origin).href;
  const all = (await sw.clients.matchAll({ type: 'window', includeUncontrolled: true })).filter(isWindowClient);
  const ours = all.filter((c) => {
    try {
      return new URL(c.url).origin === origin;
    } catch {
      return false;
    }
  });
  const tab = ours.find((c) => c.focused) ?? ours[0];
  if (tab) {
    try {
      await tab.focus(); // first, while the click still allows it
      if (tab.url !== target) await tab.navigate(target);
      return;
    } catch {
      /* an uncontrolled tab cannot be navigated by the worker: open one instead */
    }
  }
  await sw.clients.openWindow(target);
}

/** installPushHandlers adds the push and notificationclick listeners to the service worker's scope. */
export function installPushHandlers(sw: PushScope): void {
  sw.addEventListener('push', (ev) => {
    const e = ev as PushEventLike;
    const m = parseMessage(e.data, sw.location.origin);
    e.waitUntil(sw.registration.showNotification(m.title, { body: m.body, icon, tag: m.tag, data: { url: m.url } }));
  });
  sw.addEventListener('notificationclick', (ev) => {
    const e = ev as NotificationEventLike;
    e.notification.close();
    const data = e.notification.data as { url?: unknown } | undefined;
    e.waitUntil(openApp(sw, sameOriginPath(data?.url, sw.location.origin)));
  });
}
