// Web Push in the page: "tell me when my interpretation is ready". The browser subscribes with
// the node's VAPID public key (GET /api/v1/push/key) through the app's service worker, and the
// subscription's JSON goes to POST /api/v1/push/subscriptions with the page's language; turning
// it off deletes the node's record of this browser (found by its endpoint) and then the
// browser's subscription. The service worker's side (showing the notice, opening the page on a
// click) is sw-push.ts.
//
// The browser's APIs (navigator.serviceWorker, PushManager, Notification) are read from
// globalThis at each call, so the tests put fakes of them there.
import { ApiError, api, type Client } from './api';
import type { components } from './api-types';
import type { Lang } from './i18n';

type S = components['schemas'];
export type PushSubscriptionInfo = S['PushSubscription'];

/**
 * The toggle's states: unsupported (this browser, this node or this page cannot do it: see
 * reason), denied (the person blocked notifications for this site: only the browser's site
 * settings can undo that), off, on (this browser is subscribed and the node knows it).
 */
export type PushState = 'unsupported' | 'denied' | 'off' | 'on';

/** Why push is unsupported: the browser lacks the APIs (or the page is not a secure context), the node sends no notices, or no service worker runs the app. */
export type Unsupported = 'browser' | 'server' | 'worker';

export interface PushStatus {
  state: PushState;
  reason?: Unsupported;
}

/** How long to wait for the app's service worker when none is registered yet (it registers at load). */
export const workerWaitMs = { status: 3000, subscribe: 10000 };

interface PushGlobals {
  navigator?: { serviceWorker?: ServiceWorkerContainer };
  Notification?: { permission: NotificationPermission; requestPermission(): Promise<NotificationPermission> };
  PushManager?: unknown;
  isSecureContext?: boolean;
}

const g = () => globalThis as unknown as PushGlobals;

/** supported tells whether this browser can receive Web Push here (feature detection only). */
export function supported(): boolean {
  const w = g();
  return !!w.navigator?.serviceWorker && w.PushManager !== undefined && w.Notification !== undefined && w.isSecureContext !== false;
}

function permission(): NotificationPermission {
  return g().Notification?.permission ?? 'default';
}

/** registration is the app's service worker registration, waiting up to ms for one to become ready; null when there is none. */
export async function registration(ms: number): Promise<ServiceWorkerRegistration | null> {
  const sw = g().navigator?.serviceWorker;
  if (!sw) return null;
  const now = await sw.getRegistration();
  if (now?.active) return now;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((res) => (timer = setTimeout(() => res(null), ms)));
  try {
    return await Promise.race([sw.ready, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** urlBase64ToBytes decodes a base64url string (the VAPID key) into bytes for applicationServerKey. */
export function urlBase64ToBytes(s: string): Uint8Array<ArrayBuffer> {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function sameBytes(a: ArrayBuffer | null | undefined, b: Uint8Array): boolean {
  if (!a) return false;
  const x = new Uint8Array(a);
  return x.length === b.length && x.every((v, i) => v === b[i]);
}

/** pushKey asks the node for its VAPID public key; null when the node sends no notices (503 push_unavailable). */
export async function pushKey(client: Client = api): Promise<string | null> {
  try {
    return (await client.request<S['PushKey']>('GET', '/api/v1/push/key', { auth: false })).public_key;
  } catch (err) {
    if (err instanceof ApiError && err.code === 'push_unavailable') return null;
    throw err;
  }
}

/** mine lists the signed-in person's subscribed devices. */
export async function mine(client: Client = api): Promise<PushSubscriptionInfo[]> {
  return (await client.request<S['PushSubscriptionList']>('GET', '/api/v1/push/subscriptions')).items ?? [];
}

/**
 * status reads this browser's state for the signed-in person: on only when the browser holds a
 * subscription and the node lists its endpoint as theirs (another person may have subscribed
 * this browser before, or the push service may have dropped it). Errors: the API's, as ApiError.
 */
export async function status(client: Client = api): Promise<PushStatus> {
  if (!supported()) return { state: 'unsupported', reason: 'browser' };
  if ((await pushKey(client)) === null) return { state: 'unsupported', reason: 'server' };
  if (permission() === 'denied') return { state: 'denied' };
  const reg = await registration(workerWaitMs.status);
  if (!reg) return { state: 'unsupported', reason: 'worker' };
  const sub = await reg.pushManager.getSubscription();
  if (!sub) return { state: 'off' };
  const known = (await mine(client)).some((s) => s.endpoint === sub.endpoint);
  return { state: known ? 'on' : 'off' };
}

/**
 * subscribe asks the browser for a push subscription with the node's key (the permission prompt
 * shows here) and registers it with the node in lang. A subscription made with another key (the
 * node's key changed) is replaced. The person refusing → denied; dismissing the prompt → off. Errors: ApiError with the
 * API's code, or push_no_worker (no service worker), push_subscribe_failed (the browser or its
 * push service refused: headless browsers and private windows have none).
 */
export async function subscribe(lang: Lang, client: Client = api): Promise<PushStatus> {
  if (!supported()) return { state: 'unsupported', reason: 'browser' };
  // The prompt first, while the click still counts as the person's gesture (Firefox and Safari
  // ignore a request made after a network round trip).
  const n = g().Notification!;
  const perm = n.permission === 'default' ? await n.requestPermission() : n.permission;
  if (perm === 'denied') return { state: 'denied' };
  if (perm !== 'granted') return { state: 'off' }; // the prompt was dismissed
  const key = await pushKey(client);
  if (key === null) return { state: 'unsupported', reason: 'server' };
  const reg = await registration(workerWaitMs.subscribe);
  if (!reg) throw new ApiError(0, 'push_no_worker');
  const serverKey = urlBase64ToBytes(key);
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameBytes(sub.options?.applicationServerKey, serverKey)) {
    await sub.unsubscribe();
    sub = null;
  }
  if (!sub) {
    try {
      sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: serverKey });
    } catch {
      if (permission() === 'denied') return { state: 'denied' };
      throw new ApiError(0, 'push_subscribe_failed');
    }
  }
  const json = sub.toJSON();
  await client.request<PushSubscriptionInfo>('POST', '/api/v1/push/subscriptions', {
    body: { endpoint: json.endpoint ?? sub.endpoint, expirationTime: json.expirationTime ?? null, keys: json.keys, language: lang },
  });
  return { state: 'on' };
}

/**
 * unsubscribe stops notices to this browser: the node's record of it (the one whose endpoint is
 * this browser's) is deleted first, so a failure there leaves both sides subscribed and the
 * toggle truthful; then the browser's subscription. Errors: ApiError with the API's code.
 */
export async function unsubscribe(client: Client = api): Promise<PushStatus> {
  const reg = await registration(workerWaitMs.status);
  const sub = await reg?.pushManager.getSubscription();
  if (!sub) return { state: 'off' };
  for (const s of await mine(client)) {
    if (s.endpoint !== sub.endpoint) continue;
    try {
      await client.request<void>('DELETE', `/api/v1/push/subscriptions/${encodeURIComponent(s.id)}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'not_found')) throw err;
    }
  }
  await sub.unsubscribe();
  return { state: 'off' };
}

/**
 * forget drops this browser's subscription when its person signs out, so that whoever signs in
 * next on it does not get the last person's notices. A browser with none waits for nothing.
 */
export async function forget(client: Client = api): Promise<void> {
  if (!supported()) return;
  const reg = await g().navigator?.serviceWorker?.getRegistration();
  if (!(await reg?.pushManager.getSubscription())) return;
  await unsubscribe(client);
}
