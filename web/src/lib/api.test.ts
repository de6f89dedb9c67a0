import { describe, expect, it } from 'vitest';
import { ApiError, Client, errorMessage, routeMissing } from './api';

type Call = { url: string; init?: RequestInit };

function json(status: number, body: unknown, type = 'application/json'): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'Content-Type': type } });
}
const problem = (status: number, code: string, extra: Record<string, unknown> = {}) =>
  json(status, { type: 'about:blank', title: 'x', status, detail: 'raw detail for developers', code, ...extra }, 'application/problem+json');

/** a fake fetch answering from a queue of responses, recording the calls */
function fake(...answers: (Response | Error)[]) {
  const calls: Call[] = [];
  const fetcher = async (url: string, init?: RequestInit) => {
    calls.push({ url, init });
    const a = answers.shift();
    if (!a) throw new Error('no answer left for ' + url);
    if (a instanceof Error) throw a;
    return a;
  };
  return { calls, fetcher };
}

describe('errorMessage', () => {
  it.each([
    ['weak_password', 'en', 'This password is too easy to guess'],
    ['weak_password', 'zh-TW', '這個密碼太容易被猜到'],
    ['insufficient_funds', 'zh-TW', '你的點數不足'],
    ['captcha_required', 'en', 'please solve the check'],
    ['email_taken', 'en', 'already exists'],
  ] as const)('renders %s in %s from the code', (code, lang, want) => {
    expect(errorMessage(new ApiError(400, code), lang)).toContain(want);
  });

  it('never shows the raw detail: an unknown code gets the generic sentence with the status', () => {
    const msg = errorMessage(new ApiError(418, 'teapot_brewing', { detail: 'raw detail' }), 'en');
    expect(msg).toBe('Something went wrong (418). Please try again.');
    expect(errorMessage(new ApiError(418, 'teapot_brewing'), 'zh-TW')).toBe('發生錯誤（418），請再試一次。');
  });

  it('renders anything that is not an ApiError as a network error', () => {
    expect(errorMessage(new TypeError('Failed to fetch'), 'en')).toContain('could not be reached');
  });
});

describe('Client', () => {
  it('turns a problem into an ApiError with its code and members', async () => {
    const { fetcher } = fake(problem(403, 'captcha_required', { captcha: { provider: 'altcha' } }));
    const c = new Client(fetcher);
    const err = await c.register('a@example.com', 'x').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(403);
    expect(err.code).toBe('captcha_required');
    expect(err.problem.captcha).toEqual({ provider: 'altcha' });
  });

  it('keeps the access token in memory and sends it as a bearer token', async () => {
    const { calls, fetcher } = fake(json(200, { access_token: 'A1', refresh_token: 'R', token_type: 'Bearer', expires_in: 900 }), json(200, { id: 'u' }));
    const c = new Client(fetcher);
    await c.login('a@example.com', 'pw');
    expect(c.accessToken).toBe('A1');
    await c.me();
    expect((calls[1].init?.headers as Record<string, string>).Authorization).toBe('Bearer A1');
    expect(calls[0].init?.credentials).toBe('same-origin');
  });

  it('refreshes once with the cookie when the access token expired, then retries', async () => {
    const { calls, fetcher } = fake(
      problem(401, 'invalid_token'),
      json(200, { access_token: 'A2', refresh_token: 'R2', token_type: 'Bearer', expires_in: 900 }),
      json(200, { id: 'u' }),
    );
    const c = new Client(fetcher);
    c.setToken('A1');
    expect(await c.me()).toEqual({ id: 'u' });
    expect(calls.map((x) => x.url)).toEqual(['/api/v1/me', '/api/v1/auth/refresh', '/api/v1/me']);
    expect(calls[1].init?.method).toBe('POST');
    expect((calls[2].init?.headers as Record<string, string>).Authorization).toBe('Bearer A2');
  });

  it('signs out when the refresh fails too', async () => {
    const { fetcher } = fake(problem(401, 'invalid_token'), problem(401, 'invalid_refresh_token'));
    const c = new Client(fetcher);
    let signedOut = 0;
    c.onSignedOut = () => signedOut++;
    c.setToken('A1');
    const err = await c.me().catch((e) => e);
    expect(err.code).toBe('invalid_token');
    expect(signedOut).toBe(1);
    expect(c.accessToken).toBeNull();
  });

  it('does not refresh on a 401 that is not about the token (a wrong password)', async () => {
    const { calls, fetcher } = fake(problem(401, 'invalid_credentials'));
    const c = new Client(fetcher);
    const err = await c.login('a@example.com', 'bad').catch((e) => e);
    expect(err.code).toBe('invalid_credentials');
    expect(calls).toHaveLength(1);
  });

  it('keeps the session on a wrong current password of a signed-in request (401 invalid_credentials)', async () => {
    const { calls, fetcher } = fake(problem(401, 'invalid_credentials'));
    const c = new Client(fetcher);
    c.setToken('A');
    let signedOut = 0;
    c.onSignedOut = () => signedOut++;
    const err = await c.deleteMe('wrong').catch((e) => e);
    expect(err.code).toBe('invalid_credentials');
    expect(calls).toHaveLength(1);
    expect(signedOut).toBe(0);
    expect(c.accessToken).toBe('A');
    expect(JSON.parse(String(calls[0].init?.body))).toEqual({ password: 'wrong' });
    expect(calls[0].init?.method).toBe('DELETE');
  });

  it('tells a route the node lacks (404 route_not_found, 405) from a missing thing (404 payment_not_found)', () => {
    expect(routeMissing(new ApiError(404, 'route_not_found'))).toBe(true);
    expect(routeMissing(new ApiError(405, 'method_not_allowed'))).toBe(true);
    expect(routeMissing(new ApiError(404, 'payment_not_found'))).toBe(false);
    expect(routeMissing(new ApiError(403, 'invalid_credentials'))).toBe(false);
    expect(routeMissing(new Error('x'))).toBe(false);
  });

  it('asks for the reset mail in the page’s language, without a token', async () => {
    const { calls, fetcher } = fake(json(202, { status: 'accepted' }));
    const c = new Client(fetcher);
    await c.requestReset('a@example.com', 'zh-TW');
    const h = calls[0].init?.headers as Record<string, string>;
    expect(h['Accept-Language']).toBe('zh-TW');
    expect(h.Authorization).toBeUndefined();
    expect(calls).toHaveLength(1); // no refresh first
  });

  it('starts a checkout with an Idempotency-Key', async () => {
    const { calls, fetcher } = fake(json(201, { payment: { id: 'p1' }, redirect_url: '/x', method: 'GET' }));
    const c = new Client(fetcher);
    c.setToken('A');
    await c.checkout('sandbox', 'small', 'key-1');
    expect((calls[0].init?.headers as Record<string, string>)['Idempotency-Key']).toBe('key-1');
    expect(JSON.parse(String(calls[0].init?.body))).toEqual({ provider: 'sandbox', package: 'small' });
  });

  it('shares one refresh between concurrent requests', async () => {
    let refreshes = 0;
    const fetcher = async (url: string) => {
      if (url === '/api/v1/auth/refresh') {
        refreshes++;
        await new Promise((r) => setTimeout(r, 10));
        return json(200, { access_token: 'A', refresh_token: 'R', token_type: 'Bearer', expires_in: 900 });
      }
      return json(200, { ok: true });
    };
    const c = new Client(fetcher);
    await Promise.all([c.me(), c.me(), c.me()]);
    expect(refreshes).toBe(1);
  });

  it('sends the Idempotency-Key of a job and the query of a page', async () => {
    const { calls, fetcher } = fake(json(202, { job_id: 'j', status: 'pending' }), json(200, { items: [], next_cursor: 'c2' }));
    const c = new Client(fetcher);
    c.setToken('A');
    await c.submitJob({ draw_id: 'd', question: 'q' }, 'key-1');
    expect((calls[0].init?.headers as Record<string, string>)['Idempotency-Key']).toBe('key-1');
    expect(JSON.parse(String(calls[0].init?.body))).toMatchObject({ type: 'interpretation', draw_id: 'd', question: 'q' });
    await c.jobs({ status: 'completed', sort: '-created_at', cursor: undefined, from: '' });
    expect(calls[1].url).toBe('/api/v1/jobs?status=completed&sort=-created_at');
  });

  it('maps a failed fetch to the network code', async () => {
    const { fetcher } = fake(new TypeError('Failed to fetch'));
    const c = new Client(fetcher);
    const err = await c.poemSets().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('network');
    expect(errorMessage(err, 'en')).toContain('could not be reached');
  });
});
