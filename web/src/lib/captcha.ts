// The captcha a 403 captcha_required asks for. Provider "altcha" (the node's self-hosted proof
// of work, --captcha pow) is solved here with altcha-lib, and the payload is sent back as the
// request's captcha member; other providers (Turnstile, hCaptcha) need their widgets, which
// this app does not load yet: the page says so.
import { solveChallenge } from 'altcha-lib/v1';
import { ApiError } from './api';

export interface AltchaChallenge {
  provider: 'altcha';
  algorithm: string;
  challenge: string;
  maxnumber: number;
  salt: string;
  signature: string;
}

/** challengeOf returns the ALTCHA challenge an error carries, or null. */
export function challengeOf(err: unknown): AltchaChallenge | null {
  if (!(err instanceof ApiError) || (err.code !== 'captcha_required' && err.code !== 'captcha_invalid')) return null;
  const c = err.problem.captcha as Partial<AltchaChallenge> | undefined;
  if (!c || c.provider !== 'altcha' || !c.challenge || !c.salt || !c.signature) return null;
  return c as AltchaChallenge;
}

/** solve finds the number hidden in the challenge and returns the payload the server verifies. */
export async function solve(c: AltchaChallenge): Promise<string | null> {
  const sol = await solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber).promise;
  if (!sol) return null;
  const payload = { algorithm: c.algorithm, challenge: c.challenge, number: sol.number, salt: c.salt, signature: c.signature, took: sol.took };
  return btoa(JSON.stringify(payload));
}

/**
 * withCaptcha sends once without a captcha; when the answer asks for an ALTCHA proof of work
 * (403 captcha_required or captcha_invalid carrying a challenge), it solves it (onSolving(true)
 * meanwhile) and sends once more with the payload. Any other error, or a challenge it cannot
 * solve, is thrown as it came.
 */
export async function withCaptcha<T>(send: (captcha?: string) => Promise<T>, onSolving: (busy: boolean) => void = () => {}): Promise<T> {
  try {
    return await send();
  } catch (err) {
    const c = challengeOf(err);
    if (!c) throw err;
    onSolving(true);
    let payload: string | null;
    try {
      payload = await solve(c);
    } finally {
      onSolving(false);
    }
    if (!payload) throw err;
    return send(payload);
  }
}
