import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import { challengeOf, solve, withCaptcha } from './captcha';

describe('captcha', () => {
  const salt = 'abc123?expires=9999999999&';
  const number = 4321;
  const challenge = createHash('sha256').update(salt + number).digest('hex');
  const c = { provider: 'altcha', algorithm: 'SHA-256', challenge, maxnumber: 10000, salt, signature: 'f'.repeat(64) };

  it('finds the ALTCHA challenge of a captcha_required problem, and nothing else', () => {
    expect(challengeOf(new ApiError(403, 'captcha_required', { captcha: c }))).toEqual(c);
    expect(challengeOf(new ApiError(403, 'captcha_required', { captcha: { provider: 'turnstile', site_key: 'k' } }))).toBeNull();
    expect(challengeOf(new ApiError(403, 'forbidden', { captcha: c }))).toBeNull();
    expect(challengeOf(new Error('x'))).toBeNull();
  });

  it('solves it into the payload the node verifies (base64 of the solution JSON)', async () => {
    const payload = await solve(c as never);
    const sol = JSON.parse(atob(payload!));
    expect(sol).toMatchObject({ algorithm: 'SHA-256', challenge, number, salt, signature: c.signature });
  });

  it('withCaptcha sends once, and once more with the solved payload when the answer asks for it', async () => {
    const sent: (string | undefined)[] = [];
    const solving: boolean[] = [];
    const out = await withCaptcha(
      async (captcha) => {
        sent.push(captcha);
        if (!captcha) throw new ApiError(403, 'captcha_required', { captcha: c });
        return 'accepted';
      },
      (b) => solving.push(b),
    );
    expect(out).toBe('accepted');
    expect(sent).toHaveLength(2);
    expect(sent[0]).toBeUndefined();
    expect(JSON.parse(atob(sent[1]!))).toMatchObject({ number, salt });
    expect(solving).toEqual([true, false]);
  });

  it('withCaptcha passes other errors through, unsent again', async () => {
    let calls = 0;
    const send = async () => {
      calls++;
      throw new ApiError(429, 'rate_limited');
    };
    await expect(withCaptcha(send)).rejects.toMatchObject({ code: 'rate_limited' });
    expect(calls).toBe(1);
    // a captcha of a provider the page cannot solve (a widget) is shown as the error it is
    const widget = async () => {
      calls++;
      throw new ApiError(403, 'captcha_required', { captcha: { provider: 'turnstile', site_key: 'k' } });
    };
    await expect(withCaptcha(widget)).rejects.toMatchObject({ code: 'captcha_required' });
    expect(calls).toBe(2);
  });
});
