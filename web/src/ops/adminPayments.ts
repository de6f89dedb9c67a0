// The logic of the admins' payments page: the payments API (issue 12) is built in another
// branch, so its types are written here by hand to its contract until web/openapi.json
// carries them (then they become aliases of the generated ones).
import { ApiError } from '../lib/api';

export const paymentStatuses = ['pending', 'succeeded', 'failed', 'refunded', 'flagged'] as const;
export type AdminPaymentStatus = (typeof paymentStatuses)[number];

/** One payment as GET /api/v1/payments lists it for an admin. price is in the currency's major unit, price_minor in its minor unit. */
export interface AdminPayment {
  id: string;
  user_id: string;
  wallet_id: string;
  provider: string;
  package: string;
  points: number;
  currency: string;
  price: number | string;
  price_minor?: number;
  status: AdminPaymentStatus | string;
  provider_ref?: string | null;
  reason?: string | null;
  transaction_id?: string | null;
  created_at: string;
  updated_at?: string | null;
  paid_at?: string | null;
  refunded_at?: string | null;
}

export interface AdminPaymentPage {
  items: AdminPayment[];
  next_cursor?: string | null;
}

export interface PaymentFilter {
  status: string; // '' every status; 'flagged' is the default view: needs attention
  provider: string;
  user: string; // a user id (an email is looked up to its id first)
}

/** The default view of an admin: the payments that need attention. */
export const needsAttention: PaymentFilter = { status: 'flagged', provider: '', user: '' };

/** paymentQuery is the query of GET /api/v1/payments for the filter, a user id and a cursor. */
export function paymentQuery(f: PaymentFilter, userId: string, cursor: string, size = 20): Record<string, string | number | undefined> {
  const q: Record<string, string | number | undefined> = { page_size: size };
  if (f.status) q.status = f.status;
  if (f.provider.trim()) q.provider = f.provider.trim().toLowerCase();
  if (userId) q.user_id = userId;
  if (cursor) q.cursor = cursor;
  return q;
}

/** filterFromURL reads the filter kept in the page's address (?status=&provider=&user=); none: needs attention. */
export function filterFromURL(search: string): PaymentFilter {
  const p = new URLSearchParams(search);
  if (!p.has('status') && !p.has('provider') && !p.has('user')) return { ...needsAttention };
  const status = p.get('status') ?? '';
  return {
    status: (paymentStatuses as readonly string[]).includes(status) ? status : '',
    provider: p.get('provider') ?? '',
    user: p.get('user') ?? '',
  };
}

/** filterURL is the page's address for a filter (the status always, so "all" survives a reload). */
export function filterURL(f: PaymentFilter): string {
  const p = new URLSearchParams({ status: f.status });
  if (f.provider.trim()) p.set('provider', f.provider.trim());
  if (f.user.trim()) p.set('user', f.user.trim());
  return '/ops/payments?' + p.toString();
}

/** canRefund: only a succeeded payment is refunded (through its provider, then the ledger). */
export function canRefund(p: Pick<AdminPayment, 'status'>): boolean {
  return p.status === 'succeeded';
}

/** isEmail tells a user filter given as an email (looked up) from an id. */
export const isEmail = (s: string) => s.includes('@');

/**
 * keepKey says whether a refund's Idempotency-Key is kept for the next submission: only when
 * the answer was lost (a network error), so a retry is a replay of the same refund; any answer
 * of the API ends that submission.
 */
export function keepKey(err: unknown): boolean {
  return !(err instanceof ApiError) || err.status === 0;
}
