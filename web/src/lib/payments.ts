// Buying points: the packages, the checkout's hand-over to the provider (a redirect, or for
// ECPay an auto-submitted form of its fields), and the wait back at /wallet?payment=<id> until
// the provider's confirmation has credited the wallet (or it failed).
import type { CheckoutStarted, Payment, PaymentPackage } from './people-types';
import { ApiError } from './api';

/** formatPrice shows a package's price in its currency, in lang (TWD 150 → "NT$150" / "$150.00" as the locale writes it). */
export function formatPrice(p: Pick<PaymentPackage, 'price' | 'currency'>, lang: string): string {
  const n = Number(p.price);
  try {
    return new Intl.NumberFormat(lang, { style: 'currency', currency: p.currency, maximumFractionDigits: 2, minimumFractionDigits: Number.isInteger(n) ? 0 : 2 }).format(n);
  } catch {
    return `${p.price} ${p.currency}`; // a currency code Intl does not know
  }
}

export type HandOver = { kind: 'get'; url: string } | { kind: 'post'; action: string; fields: [string, string][] };

/**
 * handOver reads the checkout's answer into where the browser goes. Only http(s) URLs (absolute,
 * or a path of this node's, like the sandbox's page) are followed; anything else (a javascript:
 * URL) is refused as an invalid answer.
 */
export function handOver(c: CheckoutStarted, origin: string): HandOver {
  let url: URL;
  try {
    url = new URL(c.redirect_url, origin);
  } catch {
    throw new ApiError(502, 'invalid_checkout');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ApiError(502, 'invalid_checkout');
  if ((c.method ?? 'GET').toUpperCase() === 'POST') {
    return { kind: 'post', action: url.href, fields: Object.entries(c.fields ?? {}).map(([k, v]) => [k, String(v)]) };
  }
  return { kind: 'get', url: url.href };
}

/** postForm builds the provider's form (hidden fields under their own names) and submits it. */
export function postForm(doc: Document, action: string, fields: [string, string][]) {
  const form = doc.createElement('form');
  form.method = 'POST';
  form.action = action;
  form.hidden = true;
  for (const [name, value] of fields) {
    const input = doc.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }
  doc.body.appendChild(form);
  form.submit();
}

const final = new Set(['succeeded', 'failed', 'refunded', 'cancelled', 'expired']);

/** isFinal: the payment will not change any more by itself. */
export function isFinal(status: string | undefined): boolean {
  return final.has(status ?? '');
}

export interface WaitOptions {
  interval?: number; // between polls, ms (default 1500)
  timeout?: number; // give up waiting after, ms (default 10 minutes): the page then says it is slow
  onUpdate?: (p: Payment) => void;
  signal?: AbortSignal;
  wake?: (poke: () => void) => () => void; // e.g. the WebSocket's wallet events: poll again at once
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((res) => {
    const t = setTimeout(res, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      res();
    });
  });

/**
 * waitForPayment polls GET /api/v1/payments/:id until it is final and returns it (or the last
 * seen, not final, when the timeout passed or the signal aborted). A wallet event pokes it to
 * poll at once; network errors are retried at the next tick, other API errors are thrown.
 */
export async function waitForPayment(get: (id: string) => Promise<Payment>, id: string, o: WaitOptions = {}): Promise<Payment | null> {
  const interval = o.interval ?? 1500;
  const end = Date.now() + (o.timeout ?? 600_000);
  const sleep = o.sleep ?? defaultSleep;
  let last: Payment | null = null;
  let poke: AbortController | null = null;
  const unwake = o.wake?.(() => poke?.abort());
  try {
    for (;;) {
      try {
        last = await get(id);
        o.onUpdate?.(last);
        if (isFinal(last.status)) return last;
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 0) throw err;
      }
      if (o.signal?.aborted || Date.now() >= end) return last;
      poke = new AbortController();
      const stop = () => poke?.abort();
      o.signal?.addEventListener('abort', stop);
      await sleep(Math.min(interval, Math.max(0, end - Date.now())), poke.signal);
      o.signal?.removeEventListener('abort', stop);
      if (o.signal?.aborted) return last;
    }
  } finally {
    unwake?.();
  }
}
