import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import { challengeOf, solve } from './captcha';

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
});
