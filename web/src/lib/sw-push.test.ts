// sw-push.ts against a fake ServiceWorkerGlobalScope: an EventTarget with the registration's
// showNotification and the clients the handlers use, dispatching push and notificationclick
// events as the browser does (each with waitUntil).
import { describe, expect, it } from 'vitest';
import { installPushHandlers, parseMessage, sameOriginPath, type PushScope } from './sw-push';

const origin = 'https://dw.example';

class FakeClient {
  focusedCalls = 0;
  navigated: string[] = [];
  constructor(
    public url: string,
    readonly focused = false,
    readonly controlled = true,
  ) {}
  async focus() {
    this.focusedCalls++;
    return this;
  }
  async navigate(url: string) {
    if (!this.controlled) throw new TypeError('This service worker is not the client’s active service worker.');
    this.navigated.push(url);
    this.url = url;
    return this;
  }
}

function scope(clients: FakeClient[] = []) {
  const target = new EventTarget();
  const shown: { title: string; options?: NotificationOptions }[] = [];
  const opened: string[] = [];
  const sw: PushScope = {
    addEventListener: (type, l) => target.addEventListener(type, l),
    location: { origin },
    registration: {
      showNotification: async (title, options) => {
        shown.push({ title, options });
      },
    },
    clients: {
      matchAll: async () => clients,
      openWindow: async (url) => {
        opened.push(url);
        return null;
      },
    },
  };
  installPushHandlers(sw);
  /** dispatch fires an extendable event and waits for what it handed to waitUntil */
  async function dispatch(type: string, fields: Record<string, unknown>) {
    const waits: Promise<unknown>[] = [];
    const ev = Object.assign(new Event(type), fields, { waitUntil: (p: Promise<unknown>) => waits.push(p) });
    target.dispatchEvent(ev);
    expect(waits, type + ' must call waitUntil').toHaveLength(1);
    await Promise.all(waits);
  }
  const push = (data: unknown) =>
    dispatch('push', {
      data:
        data === null
          ? null
          : {
              json: () => (typeof data === 'string' ? JSON.parse(data) : data),
              text: () => (typeof data === 'string' ? data : JSON.stringify(data)),
            },
    });
  const click = (data: unknown) => {
    let closed = false;
    const done = dispatch('notificationclick', { notification: { data, close: () => (closed = true) } });
    return done.then(() => closed);
  };
  return { shown, opened, push, click };
}

describe('push', () => {
  it('shows the node’s notice: title, body, the app’s icon, its tag, and the page to open', async () => {
    const s = scope();
    await s.push({ title: 'Your interpretation is ready', body: 'Open it to read what your poem says.', url: '/jobs/j1', tag: 'job-j1' });
    expect(s.shown).toEqual([
      {
        title: 'Your interpretation is ready',
        options: { body: 'Open it to read what your poem says.', icon: '/icons/icon-192.png', tag: 'job-j1', data: { url: '/jobs/j1' } },
      },
    ]);
  });

  it.each([
    ['no data', null],
    ['not JSON', 'plain words'],
    ['JSON of another shape', [1, 2]],
    ['fields of other types', { title: 7, body: null, url: {}, tag: false }],
  ])('still shows a notification for a push with %s (userVisibleOnly)', async (_, data) => {
    const s = scope();
    await s.push(data);
    expect(s.shown).toHaveLength(1);
    expect(s.shown[0].title).toContain('Divine Whispers');
    expect((s.shown[0].options?.data as { url: string }).url).toBe('/');
  });

  it('keeps a foreign url out: the notice opens the app’s home instead', async () => {
    const s = scope();
    await s.push({ title: 't', body: 'b', url: 'https://evil.example/phish', tag: 'x' });
    expect(s.shown[0].options?.data).toEqual({ url: '/' });
  });
});

describe('notificationclick', () => {
  it('closes the notice, focuses the app’s focused tab and navigates it to the page', async () => {
    const other = new FakeClient(origin + '/history');
    const focused = new FakeClient(origin + '/wallet', true);
    const foreign = new FakeClient('https://other.example/', true);
    const s = scope([foreign, other, focused]);
    expect(await s.click({ url: '/jobs/j1' })).toBe(true);
    expect(focused.focusedCalls).toBe(1);
    expect(focused.navigated).toEqual([origin + '/jobs/j1']);
    expect(other.focusedCalls + other.navigated.length + foreign.focusedCalls).toBe(0);
    expect(s.opened).toEqual([]);
  });

  it('only focuses a tab already on the page', async () => {
    const tab = new FakeClient(origin + '/jobs/j1');
    const s = scope([tab]);
    await s.click({ url: '/jobs/j1' });
    expect(tab.focusedCalls).toBe(1);
    expect(tab.navigated).toEqual([]);
  });

  it('opens a window when no tab of the app is open', async () => {
    const s = scope([new FakeClient('https://other.example/x', true)]);
    await s.click({ url: '/jobs/j2' });
    expect(s.opened).toEqual([origin + '/jobs/j2']);
  });

  it('opens a window when the tab cannot be navigated (not controlled by this worker)', async () => {
    const tab = new FakeClient(origin + '/', false, false);
    const s = scope([tab]);
    await s.click({ url: '/jobs/j3' });
    expect(s.opened).toEqual([origin + '/jobs/j3']);
  });

  it('opens the app’s home for a notice without a url or with a foreign one', async () => {
    const s = scope();
    await s.click(undefined);
    await s.click({ url: 'https://evil.example/' });
    expect(s.opened).toEqual([origin + '/', origin + '/']);
  });
});

describe('sameOriginPath', () => {
  it.each([
    ['/jobs/1', '/jobs/1'],
    ['/jobs/1?x=1#a', '/jobs/1?x=1#a'],
    [origin + '/wallet', '/wallet'],
    ['jobs/2', '/jobs/2'],
    ['//evil.example/x', '/'],
    ['https://evil.example/jobs/1', '/'],
    ['javascript:alert(1)', '/'],
    ['', '/'],
    [42, '/'],
  ])('%j → %s', (url, want) => {
    expect(sameOriginPath(url, origin)).toBe(want);
  });
});

describe('parseMessage', () => {
  it('reads a text push as the body', () => {
    expect(parseMessage({ json: () => JSON.parse('x'), text: () => 'hello' }, origin)).toMatchObject({ body: 'hello', url: '/' });
  });
});
