// push.ts against fakes of the browser's APIs (navigator.serviceWorker, PushManager,
// Notification: the browser's, not ours) and a fake fetch answering as the node does.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, Client } from './api';
import { forget, status, subscribe, unsubscribe, urlBase64ToBytes, workerWaitMs } from './push';

const key = 'BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U';
const otherKey = 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM';

class FakeSubscription {
  unsubscribed = false;
  constructor(
    readonly endpoint: string,
    readonly options: { applicationServerKey: ArrayBuffer | null },
  ) {}
  toJSON() {
    return { endpoint: this.endpoint, expirationTime: null, keys: { p256dh: 'p256dh-' + this.endpoint.length, auth: 'auth' } };
  }
  async unsubscribe() {
    this.unsubscribed = true;
    browser.sub = null;
    return true;
  }
}

/** The fake browser: its permission, its one registration and push subscription. */
const browser = {
  permission: 'default' as NotificationPermission,
  answer: 'granted' as NotificationPermission, // what the prompt answers
  prompts: 0,
  sub: null as FakeSubscription | null,
  registered: true,
  subscribeFails: '' as '' | 'abort' | 'denied', // no push service, or the browser turns it into a denial
  subscribeCalls: [] as { userVisibleOnly?: boolean; applicationServerKey?: Uint8Array }[],
};

const pushManager = {
  getSubscription: async () => browser.sub,
  subscribe: async (o: { userVisibleOnly?: boolean; applicationServerKey?: Uint8Array }) => {
    browser.subscribeCalls.push(o);
    if (browser.subscribeFails === 'abort') throw new DOMException('Registration failed - push service not available', 'AbortError');
    if (browser.subscribeFails === 'denied') {
      browser.permission = 'denied';
      throw new DOMException('Registration failed - permission denied', 'NotAllowedError');
    }
    const k = o.applicationServerKey!;
    browser.sub = new FakeSubscription('https://push.example/ep/' + browser.subscribeCalls.length, {
      applicationServerKey: k.buffer.slice(k.byteOffset, k.byteOffset + k.byteLength) as ArrayBuffer,
    });
    return browser.sub;
  },
};
const registration = { active: {}, pushManager };

function install() {
  vi.stubGlobal('isSecureContext', true);
  vi.stubGlobal('PushManager', function PushManager() {});
  vi.stubGlobal('Notification', {
    get permission() {
      return browser.permission;
    },
    requestPermission: async () => {
      browser.prompts++;
      browser.permission = browser.answer;
      return browser.answer;
    },
  });
  vi.stubGlobal('navigator', {
    serviceWorker: {
      getRegistration: async () => (browser.registered ? registration : undefined),
      ready: new Promise(() => {}), // a page with no service worker: never ready
    },
  });
}

type Call = { method: string; url: string; body?: unknown };

/** the node: its key (or none), and the caller's subscriptions */
function node(opts: { push?: boolean; listed?: { id: string; endpoint: string }[]; deleteFails?: string } = {}) {
  const calls: Call[] = [];
  const listed = [...(opts.listed ?? [])];
  const json = (status: number, body: unknown) =>
    new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  const problem = (status: number, code: string) => json(status, { status, code, detail: 'raw' });
  const client = new Client(async (url, init) => {
    const method = init?.method ?? 'GET';
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ method, url, body });
    if (url === '/api/v1/auth/refresh') return json(200, { access_token: 'T' });
    if (url === '/api/v1/push/key') return opts.push === false ? problem(503, 'push_unavailable') : json(200, { public_key: key });
    if (url === '/api/v1/push/subscriptions' && method === 'GET') return json(200, { items: listed });
    if (url === '/api/v1/push/subscriptions' && method === 'POST') {
      listed.push({ id: 'sub-' + listed.length, endpoint: body.endpoint });
      return json(201, { id: 'sub-x', endpoint: body.endpoint, language: body.language, created_at: '2026-12-04T00:00:00Z' });
    }
    if (url.startsWith('/api/v1/push/subscriptions/') && method === 'DELETE') {
      if (opts.deleteFails) return problem(opts.deleteFails === 'not_found' ? 404 : 503, opts.deleteFails);
      return json(204, null);
    }
    return problem(404, 'not_found');
  });
  client.setToken('T');
  return { client, calls, listed };
}

beforeEach(() => {
  Object.assign(browser, { permission: 'default', answer: 'granted', prompts: 0, sub: null, registered: true, subscribeFails: '', subscribeCalls: [] });
  workerWaitMs.status = 20;
  workerWaitMs.subscribe = 20;
  install();
});
afterEach(() => vi.unstubAllGlobals());

describe('status', () => {
  it('is unsupported (browser) without the Push API, before asking the node anything', async () => {
    vi.stubGlobal('PushManager', undefined);
    const n = node();
    expect(await status(n.client)).toEqual({ state: 'unsupported', reason: 'browser' });
    expect(n.calls).toEqual([]);
  });

  it('is unsupported (browser) outside a secure context', async () => {
    vi.stubGlobal('isSecureContext', false);
    expect(await status(node().client)).toEqual({ state: 'unsupported', reason: 'browser' });
  });

  it('is unsupported (server) when the node sends no notices (503 push_unavailable)', async () => {
    expect(await status(node({ push: false }).client)).toEqual({ state: 'unsupported', reason: 'server' });
  });

  it('is denied when the person blocked notifications', async () => {
    browser.permission = 'denied';
    expect(await status(node().client)).toEqual({ state: 'denied' });
  });

  it('is unsupported (worker) when no service worker becomes ready in time', async () => {
    browser.registered = false;
    expect(await status(node().client)).toEqual({ state: 'unsupported', reason: 'worker' });
  });

  it('is off with no subscription in the browser', async () => {
    expect(await status(node().client)).toEqual({ state: 'off' });
  });

  it('is on only when the node lists this browser’s endpoint as the caller’s', async () => {
    browser.sub = new FakeSubscription('https://push.example/ep/mine', { applicationServerKey: null });
    expect(await status(node({ listed: [{ id: 's1', endpoint: 'https://push.example/ep/mine' }] }).client)).toEqual({ state: 'on' });
    expect(await status(node({ listed: [{ id: 's2', endpoint: 'https://push.example/ep/other' }] }).client)).toEqual({ state: 'off' });
  });

  it('passes the API’s other errors on as ApiError', async () => {
    const client = new Client(async () => new Response(JSON.stringify({ code: 'internal' }), { status: 500 }));
    const err = await status(client).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('internal');
  });
});

describe('subscribe', () => {
  it('prompts, subscribes with userVisibleOnly and the node’s key, and sends the subscription’s JSON with the language', async () => {
    const n = node();
    expect(await subscribe('zh-TW', n.client)).toEqual({ state: 'on' });
    expect(browser.prompts).toBe(1);
    expect(browser.subscribeCalls).toHaveLength(1);
    expect(browser.subscribeCalls[0].userVisibleOnly).toBe(true);
    expect([...browser.subscribeCalls[0].applicationServerKey!]).toEqual([...urlBase64ToBytes(key)]);
    const post = n.calls.find((c) => c.method === 'POST' && c.url === '/api/v1/push/subscriptions');
    expect(post?.body).toEqual({
      endpoint: 'https://push.example/ep/1',
      expirationTime: null,
      keys: { p256dh: 'p256dh-25', auth: 'auth' },
      language: 'zh-TW',
    });
    expect(await status(n.client)).toEqual({ state: 'on' });
  });

  it('asks the prompt before any network round trip', async () => {
    const n = node();
    let callsAtPrompt = -1;
    const N = globalThis.Notification as unknown as { requestPermission: () => Promise<NotificationPermission> };
    const orig = N.requestPermission;
    N.requestPermission = async () => {
      callsAtPrompt = n.calls.length;
      return orig();
    };
    await subscribe('en', n.client);
    expect(callsAtPrompt).toBe(0);
  });

  it('is denied when the person refuses, and off when they dismiss the prompt; nothing is sent', async () => {
    browser.answer = 'denied';
    let n = node();
    expect(await subscribe('en', n.client)).toEqual({ state: 'denied' });
    expect(n.calls.filter((c) => c.method === 'POST')).toEqual([]);
    browser.permission = 'default';
    browser.answer = 'default';
    n = node();
    expect(await subscribe('en', n.client)).toEqual({ state: 'off' });
    expect(browser.subscribeCalls).toEqual([]);
  });

  it('reuses the browser’s subscription made with the same key, and replaces one made with another key', async () => {
    browser.permission = 'granted';
    const same = new FakeSubscription('https://push.example/ep/same', { applicationServerKey: urlBase64ToBytes(key).buffer });
    browser.sub = same;
    let n = node();
    await subscribe('en', n.client);
    expect(browser.subscribeCalls).toEqual([]);
    expect(n.calls.find((c) => c.method === 'POST')?.body).toMatchObject({ endpoint: 'https://push.example/ep/same' });

    const old = new FakeSubscription('https://push.example/ep/old', { applicationServerKey: urlBase64ToBytes(otherKey).buffer });
    browser.sub = old;
    n = node();
    await subscribe('en', n.client);
    expect(old.unsubscribed).toBe(true);
    expect(browser.subscribeCalls).toHaveLength(1);
    expect(n.calls.find((c) => c.method === 'POST')?.body).toMatchObject({ endpoint: 'https://push.example/ep/1' });
  });

  it('explains a browser without a push service (headless, private windows) by a code, not an exception of its own', async () => {
    browser.permission = 'granted';
    browser.subscribeFails = 'abort';
    const err = await subscribe('en', node().client).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('push_subscribe_failed');
  });

  it('reports a refusal the browser turns into a denied permission as denied', async () => {
    browser.permission = 'granted';
    browser.subscribeFails = 'denied';
    expect(await subscribe('en', node().client)).toEqual({ state: 'denied' });
  });

  it('fails with push_no_worker when the app has no service worker', async () => {
    browser.permission = 'granted';
    browser.registered = false;
    const err = await subscribe('en', node().client).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('push_no_worker');
  });

  it('is unsupported (server) when the node sends no notices', async () => {
    browser.permission = 'granted';
    expect(await subscribe('en', node({ push: false }).client)).toEqual({ state: 'unsupported', reason: 'server' });
  });
});

describe('unsubscribe', () => {
  it('deletes the node’s record whose endpoint is this browser’s, then the browser’s subscription', async () => {
    const sub = new FakeSubscription('https://push.example/ep/mine', { applicationServerKey: null });
    browser.sub = sub;
    const n = node({ listed: [{ id: 'other', endpoint: 'https://push.example/ep/phone' }, { id: 'mine id', endpoint: 'https://push.example/ep/mine' }] });
    expect(await unsubscribe(n.client)).toEqual({ state: 'off' });
    expect(n.calls.filter((c) => c.method === 'DELETE').map((c) => c.url)).toEqual(['/api/v1/push/subscriptions/mine%20id']);
    expect(sub.unsubscribed).toBe(true);
  });

  it('keeps the browser subscribed when the node’s delete fails (the toggle stays truthful)', async () => {
    const sub = new FakeSubscription('https://push.example/ep/mine', { applicationServerKey: null });
    browser.sub = sub;
    const n = node({ listed: [{ id: 's', endpoint: 'https://push.example/ep/mine' }], deleteFails: 'unavailable' });
    const err = await unsubscribe(n.client).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('unavailable');
    expect(sub.unsubscribed).toBe(false);
  });

  it('treats a record already gone (404 not_found) as deleted', async () => {
    const sub = new FakeSubscription('https://push.example/ep/mine', { applicationServerKey: null });
    browser.sub = sub;
    const n = node({ listed: [{ id: 's', endpoint: 'https://push.example/ep/mine' }], deleteFails: 'not_found' });
    expect(await unsubscribe(n.client)).toEqual({ state: 'off' });
    expect(sub.unsubscribed).toBe(true);
  });

  it('is off at once when the browser holds no subscription', async () => {
    const n = node();
    expect(await unsubscribe(n.client)).toEqual({ state: 'off' });
    expect(n.calls).toEqual([]);
  });
});

describe('forget (at sign-out)', () => {
  it('drops this browser’s subscription, so the next person here gets no notice of the last', async () => {
    const sub = new FakeSubscription('https://push.example/ep/mine', { applicationServerKey: null });
    browser.sub = sub;
    const n = node({ listed: [{ id: 'mine', endpoint: 'https://push.example/ep/mine' }] });
    await forget(n.client);
    expect(n.calls.filter((c) => c.method === 'DELETE').map((c) => c.url)).toEqual(['/api/v1/push/subscriptions/mine']);
    expect(sub.unsubscribed).toBe(true);
  });

  it('asks nothing of the node when the browser holds no subscription', async () => {
    const n = node();
    await forget(n.client);
    expect(n.calls).toEqual([]);
  });
});

describe('urlBase64ToBytes', () => {
  it('decodes base64url without padding (a 65-byte uncompressed P-256 key)', () => {
    const b = urlBase64ToBytes(key);
    expect(b.length).toBe(65);
    expect(b[0]).toBe(4);
    expect([...urlBase64ToBytes('-_8')]).toEqual([0xfb, 0xff]);
  });
});
