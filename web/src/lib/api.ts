// The client of the node's /api/v1 (same origin). The access token lives in memory only; the
// refresh token is the HttpOnly dw_refresh cookie, which POST /api/v1/auth/refresh rotates.
// Every failure becomes an ApiError carrying the problem's stable code, which the pages turn
// into a sentence of the person's language (errorMessage); the API's detail is never shown.
import type { components } from './api-types';
import { currentLang, translate, type Lang } from './i18n';
import type { CheckoutStarted, Payment, PaymentPackages, Profile, ProfilePatch } from './people-types';

type S = components['schemas'];
export type Me = S['Me'];
export type Tokens = S['Tokens'];
export type Draw = S['Draw'];
export type Poem = S['Poem'];
export type PoemSetInfo = NonNullable<S['PoemSetList']['items']>[number];
export type Job = S['Job'];
export type JobResult = S['JobResult'];
export type Wallet = S['Wallet'];
export type Transaction = S['Transaction'];
export interface Page<T> {
  items: T[];
  next_cursor?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly problem: Record<string, unknown> = {},
  ) {
    super(code);
    this.name = 'ApiError';
  }
}

/** errorMessage renders any error in lang: an ApiError by its code, anything else as a network error. */
export function errorMessage(err: unknown, lang: Lang): string {
  if (err instanceof ApiError) {
    const key = 'error.' + err.code;
    const text = translate(lang, key);
    if (text !== key) return text;
    return translate(lang, 'error.unknown', { status: err.status });
  }
  return translate(lang, 'error.network');
}

type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  idempotencyKey?: string;
  auth?: boolean; // default true: send the access token, refreshing it once when missing or expired
  text?: boolean; // answer the body as text (a CSV report), not JSON
  headers?: Record<string, string>; // more request headers (e.g. Accept-Language for a mail)
}

const authCodes = new Set(['missing_token', 'invalid_token']);
// A 401 about what was sent (a wrong current password when changing it or deleting the
// account), not about the session: shown, without signing the person out.
const refusalCodes = new Set(['invalid_credentials']);

/** routeMissing tells whether the node lacks the route itself (an older node): 404 route_not_found or 405. */
export function routeMissing(err: unknown): boolean {
  return err instanceof ApiError && (err.code === 'route_not_found' || err.code === 'method_not_allowed' || err.status === 405);
}

export class Client {
  private token: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  onSignedOut: () => void = () => {};

  constructor(private readonly fetcher: Fetch = (i, init) => globalThis.fetch(i, init)) {}

  get accessToken(): string | null {
    return this.token;
  }

  setToken(t: string | null) {
    this.token = t;
  }

  /** refresh exchanges the refresh cookie for a new access token; false when there is no session. Concurrent callers share one request. */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        try {
          const res = await this.fetcher('/api/v1/auth/refresh', { method: 'POST', credentials: 'same-origin' });
          if (!res.ok) {
            this.token = null;
            return false;
          }
          const body = (await res.json()) as Tokens;
          this.token = body.access_token;
          return true;
        } catch {
          return false;
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const auth = opts.auth ?? true;
    if (auth && !this.token) await this.refresh();
    let res = await this.send(method, path, opts, auth);
    if (auth && res.status === 401) {
      const p = await problemOf(res);
      if (refusalCodes.has(p.code)) throw new ApiError(res.status, p.code, p.body);
      if (!authCodes.has(p.code) || !(await this.refresh())) {
        this.signedOut();
        throw new ApiError(res.status, p.code, p.body);
      }
      res = await this.send(method, path, opts, auth);
    }
    if (!res.ok) {
      const p = await problemOf(res);
      if (res.status === 401 && auth && !refusalCodes.has(p.code)) this.signedOut();
      throw new ApiError(res.status, p.code, p.body);
    }
    if (res.status === 204) return undefined as T;
    if (opts.text) return (await res.text()) as T;
    return (await res.json()) as T;
  }

  private signedOut() {
    this.token = null;
    this.onSignedOut();
  }

  private async send(method: string, path: string, opts: RequestOptions, auth: boolean): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth && this.token) headers.Authorization = 'Bearer ' + this.token;
    if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
    let url = path;
    if (opts.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(opts.query)) if (v !== undefined && v !== '') q.set(k, String(v));
      const s = q.toString();
      if (s) url += '?' + s;
    }
    try {
      return await this.fetcher(url, {
        method,
        headers,
        credentials: 'same-origin',
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
    } catch {
      throw new ApiError(0, 'network');
    }
  }

  // --- the calls the pages make ---

  async login(email: string, password: string, captcha?: string): Promise<void> {
    const t = await this.request<Tokens>('POST', '/api/v1/auth/login', { body: { email, password, captcha }, auth: false });
    this.token = t.access_token;
  }
  register(email: string, password: string, captcha?: string) {
    // The account takes the page's language (the profile's language rules the page at each login).
    return this.request<S['User']>('POST', '/api/v1/auth/register', { body: { email, password, captcha, language: currentLang() }, auth: false });
  }
  async logout(): Promise<void> {
    try {
      await this.request<void>('POST', '/api/v1/auth/logout');
    } finally {
      this.token = null;
    }
  }
  me() {
    return this.request<Me>('GET', '/api/v1/me');
  }
  changePassword(current_password: string, new_password: string) {
    return this.request<void>('POST', '/api/v1/me/password', { body: { current_password, new_password } });
  }
  /** requestReset asks for a reset mail in lang (the mail's language follows Accept-Language); 202 whether or not the email has an account. */
  requestReset(email: string, lang: string, captcha?: string) {
    return this.request<{ status: string }>('POST', '/api/v1/auth/password/reset-request', {
      body: { email, captcha },
      auth: false,
      headers: { 'Accept-Language': lang },
    });
  }
  resetPassword(token: string, new_password: string) {
    return this.request<void>('POST', '/api/v1/auth/password/reset', { body: { token, new_password }, auth: false });
  }
  updateMe(patch: ProfilePatch) {
    return this.request<Me & Profile>('PATCH', '/api/v1/me', { body: patch });
  }
  deleteMe(password: string) {
    return this.request<void>('DELETE', '/api/v1/me', { body: { password } });
  }
  paymentPackages() {
    return this.request<PaymentPackages>('GET', '/api/v1/payments/packages');
  }
  checkout(provider: string, pkg: string, key: string) {
    return this.request<CheckoutStarted>('POST', '/api/v1/payments/checkout', { body: { provider, package: pkg }, idempotencyKey: key });
  }
  payment(id: string) {
    return this.request<Payment>('GET', `/api/v1/payments/${encodeURIComponent(id)}`);
  }
  payments(query: Record<string, string | number | undefined>) {
    return this.request<Page<Payment>>('GET', '/api/v1/payments', { query });
  }
  poemSets() {
    return this.request<{ items: PoemSetInfo[] }>('GET', '/api/v1/poem-sets', { auth: false });
  }
  poem(set: string, n: number) {
    return this.request<Poem>('GET', `/api/v1/poem-sets/${encodeURIComponent(set)}/poems/${n}`, { auth: false });
  }
  draw(set: string, confirm: boolean) {
    return this.request<Draw>('POST', '/api/v1/draws', { body: { set, confirm } });
  }
  getDraw(id: string) {
    return this.request<Draw>('GET', `/api/v1/draws/${encodeURIComponent(id)}`);
  }
  draws(query: Record<string, string | number | undefined>) {
    return this.request<Page<Draw>>('GET', '/api/v1/draws', { query });
  }
  deleteDraw(id: string) {
    return this.request<void>('DELETE', `/api/v1/draws/${encodeURIComponent(id)}`);
  }
  submitJob(params: Record<string, unknown>, key: string) {
    return this.request<S['JobAccepted']>('POST', '/api/v1/jobs', { body: { type: 'interpretation', ...params }, idempotencyKey: key });
  }
  job(id: string) {
    return this.request<Job>('GET', `/api/v1/jobs/${encodeURIComponent(id)}`);
  }
  jobResult(id: string) {
    return this.request<JobResult>('GET', `/api/v1/jobs/${encodeURIComponent(id)}/result`);
  }
  jobs(query: Record<string, string | number | undefined>) {
    return this.request<Page<Job>>('GET', '/api/v1/jobs', { query });
  }
  cancelJob(id: string) {
    return this.request<Job>('DELETE', `/api/v1/jobs/${encodeURIComponent(id)}`);
  }
  wallet(id: string) {
    return this.request<Wallet>('GET', `/api/v1/wallets/${encodeURIComponent(id)}`);
  }
  transactions(id: string, query: Record<string, string | number | undefined>) {
    return this.request<Page<Transaction>>('GET', `/api/v1/wallets/${encodeURIComponent(id)}/transactions`, { query });
  }
}

async function problemOf(res: Response): Promise<{ code: string; body: Record<string, unknown> }> {
  try {
    const body = (await res.clone().json()) as Record<string, unknown>;
    if (typeof body.code === 'string' && body.code) return { code: body.code, body };
    return { code: 'unknown', body };
  } catch {
    return { code: 'unknown', body: {} };
  }
}

export const api = new Client();
