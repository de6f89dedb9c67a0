import { describe, expect, it } from 'vitest';
import { ApiError, Client, errorMessage } from './api';
import { createBody, deliveryView, isMissingApi, webhookEvents, webhooksApi } from './webhooks';
import { translate } from './i18n';

describe('createBody', () => {
  it('sends the url trimmed and the chosen events in the listed order, each once', () => {
    expect(createBody('  https://hooks.example/dw  ', ['quota.threshold_crossed', 'job.completed', 'job.completed'])).toEqual({
      url: 'https://hooks.example/dw',
      events: ['job.completed', 'quota.threshold_crossed'],
    });
  });

  it('sends every event when every box is ticked', () => {
    expect(createBody('http://127.0.0.1:9000/in', webhookEvents)).toEqual({ url: 'http://127.0.0.1:9000/in', events: [...webhookEvents] });
  });

  it('drops names that are not events', () => {
    expect(createBody('https://a.example/', ['job.completed', 'job.deleted'])).toEqual({ url: 'https://a.example/', events: ['job.completed'] });
  });

  it.each([
    ['', ['job.completed'], 'webhooks.badUrl'],
    ['hooks.example/dw', ['job.completed'], 'webhooks.badUrl'],
    ['ftp://hooks.example/dw', ['job.completed'], 'webhooks.badUrl'],
    ['javascript:alert(1)', ['job.completed'], 'webhooks.badUrl'],
    ['https://hooks.example/dw', [], 'webhooks.noEvents'],
    ['https://hooks.example/dw', ['nothing'], 'webhooks.noEvents'],
  ])('%j with %j → %s', (url, events, problem) => {
    expect(createBody(url, events)).toEqual({ problem });
  });

  it('names every event and problem in both languages', () => {
    for (const l of ['en', 'zh-TW'] as const) {
      for (const e of webhookEvents) expect(translate(l, 'webhooks.event.' + e)).not.toBe('webhooks.event.' + e);
      for (const k of ['webhooks.badUrl', 'webhooks.noEvents']) expect(translate(l, k)).not.toBe(k);
    }
  });
});

describe('deliveryView', () => {
  it('shows a delivered one with its HTTP status and no next attempt', () => {
    expect(
      deliveryView({ id: 'd1', type: 'job.completed', status: 'succeeded', attempts: 3, http_status: 204, created_at: '2026-12-04T10:00:00Z', next_attempt_at: '2026-12-04T11:00:00Z' }),
    ).toEqual({ statusKey: 'webhooks.status.succeeded', raw: 'succeeded', tone: 'ok', attempts: 3, outcome: 'HTTP 204', created: '2026-12-04T10:00:00Z', next: '' });
  });

  it('shows a waiting one with its last answer, transport error and next attempt', () => {
    const v = deliveryView({ id: 'd2', status: 'pending', attempts: 2, http_status: 503, error: 'receiver answered 503', next_attempt_at: '2026-12-04T10:05:00Z' });
    expect(v).toMatchObject({ tone: 'wait', outcome: 'HTTP 503 · receiver answered 503', next: '2026-12-04T10:05:00Z' });
  });

  it('shows a transport error alone, shortened when long', () => {
    expect(deliveryView({ id: 'd', status: 'failed', error: 'dial tcp 127.0.0.1:1: connection refused' }).outcome).toBe('dial tcp 127.0.0.1:1: connection refused');
    const long = deliveryView({ id: 'd', status: 'failed', error: 'x'.repeat(500) }).outcome;
    expect(long.length).toBe(200);
    expect(long.endsWith('…')).toBe(true);
  });

  it('renders what is present: absent, null or mistyped fields are empty, an unknown status is shown as written', () => {
    expect(deliveryView({ id: 'd' })).toEqual({ statusKey: null, raw: 'unknown', tone: 'wait', attempts: 0, outcome: '', created: '', next: '' });
    expect(
      deliveryView({ id: 'd', status: 'quarantined', attempts: '3' as never, http_status: null, error: null, created_at: 'yesterday', next_attempt_at: null }),
    ).toEqual({ statusKey: null, raw: 'quarantined', tone: 'wait', attempts: 0, outcome: '', created: '', next: '' });
  });

  it('has words for every status it names, in both languages', () => {
    for (const s of ['pending', 'retrying', 'sending', 'succeeded', 'delivered', 'failed', 'dead', 'exhausted', 'cancelled']) {
      const key = deliveryView({ id: 'd', status: s }).statusKey!;
      expect(key).toBe('webhooks.status.' + s);
      expect(translate('en', key)).not.toBe(key);
      expect(translate('zh-TW', key)).not.toBe(key);
    }
  });
});

describe('errors', () => {
  it('explains a refused private address from its code, never the detail', () => {
    const err = new ApiError(400, 'webhook_url_forbidden', { detail: 'resolves to 10.0.0.1' });
    expect(errorMessage(err, 'en')).toContain('addresses inside private networks');
    expect(errorMessage(err, 'zh-TW')).toContain('私有網路');
    expect(errorMessage(err, 'en')).not.toContain('10.0.0.1');
  });

  it('knows a node without the API by the list’s 404', () => {
    expect(isMissingApi(new ApiError(404, 'not_found'))).toBe(true);
    expect(isMissingApi(new ApiError(403, 'forbidden'))).toBe(false);
    expect(isMissingApi(new Error('x'))).toBe(false);
  });
});

describe('webhooksApi', () => {
  it('calls the contract’s routes', async () => {
    const calls: string[] = [];
    const c = new Client(async (url, init) => {
      calls.push(`${init?.method} ${url}${init?.body ? ' ' + init.body : ''}`);
      return new Response(init?.method === 'DELETE' ? null : '{"items":[]}', { status: init?.method === 'DELETE' ? 204 : 200 });
    });
    c.setToken('T');
    await webhooksApi.list(c);
    await webhooksApi.create({ url: 'https://a.example/', events: ['job.completed'] }, c);
    await webhooksApi.get('w/1', c);
    await webhooksApi.remove('w1', c);
    await webhooksApi.deliveries('w1', { page_size: 20, cursor: 'abc' }, c);
    await webhooksApi.deliveries('w1', { page_size: 20, cursor: undefined }, c);
    await webhooksApi.redeliver('w1', 'd1', c);
    expect(calls).toEqual([
      'GET /api/v1/webhooks',
      'POST /api/v1/webhooks {"url":"https://a.example/","events":["job.completed"]}',
      'GET /api/v1/webhooks/w%2F1',
      'DELETE /api/v1/webhooks/w1',
      'GET /api/v1/webhooks/w1/deliveries?page_size=20&cursor=abc',
      'GET /api/v1/webhooks/w1/deliveries?page_size=20',
      'POST /api/v1/webhooks/w1/deliveries/d1/redeliver',
    ]);
  });
});
