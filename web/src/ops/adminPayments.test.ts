import { describe, expect, it } from 'vitest';
import { ApiError } from '../lib/api';
import { opsMessages, otranslate } from './messages';
import { canRefund, filterFromURL, filterURL, isEmail, keepKey, needsAttention, paymentQuery, paymentStatuses } from './adminPayments';

describe('the payments filter', () => {
  it('opens on the payments that need attention', () => {
    expect(filterFromURL('')).toEqual({ status: 'flagged', provider: '', user: '' });
    expect(needsAttention.status).toBe('flagged');
  });
  it('keeps the filter in the address, "all" included, and reads it back', () => {
    const all = { status: '', provider: ' Stripe ', user: 'a@example.com' };
    expect(filterURL(all)).toBe('/ops/payments?status=&provider=Stripe&user=a%40example.com');
    expect(filterFromURL(filterURL(all).split('?')[1])).toEqual({ status: '', provider: 'Stripe', user: 'a@example.com' });
    expect(filterFromURL('?status=refunded')).toEqual({ status: 'refunded', provider: '', user: '' });
    expect(filterFromURL('?status=bogus')).toEqual({ status: '', provider: '', user: '' });
  });
  it('asks the API for what is filtered only', () => {
    expect(paymentQuery(needsAttention, '', '')).toEqual({ page_size: 20, status: 'flagged' });
    expect(paymentQuery({ status: '', provider: ' ECPay ', user: 'x' }, 'uid-1', 'c2', 50)).toEqual({ page_size: 50, provider: 'ecpay', user_id: 'uid-1', cursor: 'c2' });
  });
  it('tells an email from an id', () => {
    expect(isEmail('a@example.com')).toBe(true);
    expect(isEmail('0190a7e2-0000-7000-8000-000000000000')).toBe(false);
  });
});

describe('refunds', () => {
  it('only of a succeeded payment', () => {
    for (const s of paymentStatuses) expect(canRefund({ status: s })).toBe(s === 'succeeded');
  });
  it('keep their Idempotency-Key only when the answer was lost', () => {
    expect(keepKey(new ApiError(0, 'network'))).toBe(true);
    expect(keepKey(new TypeError('Failed to fetch'))).toBe(true);
    expect(keepKey(new ApiError(409, 'payment_not_refundable'))).toBe(false);
    expect(keepKey(new ApiError(502, 'refund_failed'))).toBe(false);
  });
});

describe('the payments texts', () => {
  it('name every status in both languages, and say refusals from their codes', () => {
    for (const l of ['en', 'zh-TW'] as const) {
      for (const s of paymentStatuses) expect(opsMessages[l]).toHaveProperty(['ops.pay.st.' + s]);
    }
    expect(otranslate('zh-TW', 'error.refund_failed')).toBe('金流拒絕了退款；錢包沒有任何變動。');
    expect(otranslate('en', 'error.payment_not_found')).toBe('This payment was not found.'); // the app's table
  });
});
