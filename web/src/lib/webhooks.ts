// Integrators' webhook endpoints: the API's calls and the page's own logic (the request body
// from the chosen events, the checks made before sending, how a delivery is shown). The types
// are written here by hand from the API's contract until the generated ones carry these routes.
import { ApiError, api, type Client, type Page } from './api';

/** The events an endpoint can subscribe to, in the order the page lists them. */
export const webhookEvents = ['job.completed', 'job.failed', 'payment.succeeded', 'wallet.low_balance', 'quota.threshold_crossed'] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  created_at?: string;
}

/** The answer to a creation: the only time the signing secret (whsec_…) is ever shown. */
export interface WebhookCreated extends Webhook {
  secret: string;
}

export interface Delivery {
  id: string;
  event_id?: string;
  type?: string;
  status?: string;
  attempts?: number;
  http_status?: number | null;
  error?: string | null;
  next_attempt_at?: string | null;
  created_at?: string;
  [k: string]: unknown;
}

/** The page's checks before it sends (the API checks again, and refuses private addresses). */
export type FormProblem = 'webhooks.badUrl' | 'webhooks.noEvents';

/** createBody is the POST /api/v1/webhooks body for url and the chosen events (in the listed order, each once), or the first problem with them. */
export function createBody(url: string, chosen: Iterable<string>): { url: string; events: WebhookEvent[] } | { problem: FormProblem } {
  const u = url.trim();
  let ok = false;
  try {
    const p = new URL(u);
    ok = (p.protocol === 'https:' || p.protocol === 'http:') && p.hostname !== '';
  } catch {
    ok = false;
  }
  if (!ok) return { problem: 'webhooks.badUrl' };
  const set = new Set(chosen);
  const events = webhookEvents.filter((e) => set.has(e));
  if (events.length === 0) return { problem: 'webhooks.noEvents' };
  return { url: u, events };
}

export type Tone = 'ok' | 'wait' | 'bad';

/** The statuses the page names in words; any other is shown as the API writes it. */
const known: Record<string, Tone> = {
  pending: 'wait',
  retrying: 'wait',
  sending: 'wait',
  succeeded: 'ok',
  delivered: 'ok',
  failed: 'bad',
  dead: 'bad',
  exhausted: 'bad',
  cancelled: 'bad',
};

export interface DeliveryView {
  /** a message key (webhooks.status.<status>) for a known status, else null: show raw */
  statusKey: string | null;
  raw: string;
  tone: Tone;
  attempts: number;
  /** "HTTP 500", the transport error, both, or "" */
  outcome: string;
  /** ISO times, "" when absent */
  created: string;
  next: string;
}

/** deliveryView renders a delivery defensively: every field may be absent or of another type. */
export function deliveryView(d: Partial<Delivery>): DeliveryView {
  const raw = typeof d.status === 'string' && d.status ? d.status : 'unknown';
  const tone = known[raw] ?? 'wait';
  const parts: string[] = [];
  if (typeof d.http_status === 'number' && d.http_status > 0) parts.push('HTTP ' + d.http_status);
  if (typeof d.error === 'string' && d.error) parts.push(d.error.length > 200 ? d.error.slice(0, 199) + '…' : d.error);
  const iso = (v: unknown) => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? v : '');
  return {
    statusKey: raw in known ? 'webhooks.status.' + raw : null,
    raw,
    tone,
    attempts: typeof d.attempts === 'number' && d.attempts >= 0 ? d.attempts : 0,
    outcome: parts.join(' · '),
    created: iso(d.created_at),
    // a next attempt matters only while the delivery is still waiting
    next: tone === 'wait' ? iso(d.next_attempt_at) : '',
  };
}

/** isMissingApi: the node has no webhooks API (404 for the list itself: an older node). */
export function isMissingApi(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404;
}

const path = (id: string) => `/api/v1/webhooks/${encodeURIComponent(id)}`;

export const webhooksApi = {
  list: (c: Client = api) => c.request<Page<Webhook>>('GET', '/api/v1/webhooks'),
  create: (body: { url: string; events: string[] }, c: Client = api) => c.request<WebhookCreated>('POST', '/api/v1/webhooks', { body }),
  get: (id: string, c: Client = api) => c.request<Webhook>('GET', path(id)),
  remove: (id: string, c: Client = api) => c.request<void>('DELETE', path(id)),
  deliveries: (id: string, query: { page_size?: number; cursor?: string }, c: Client = api) =>
    c.request<Page<Delivery>>('GET', path(id) + '/deliveries', { query }),
  redeliver: (id: string, delivery: string, c: Client = api) =>
    c.request<unknown>('POST', `${path(id)}/deliveries/${encodeURIComponent(delivery)}/redeliver`),
};
