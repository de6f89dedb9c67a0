import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import { formatPrice, handOver, isFinal, waitForPayment } from './payments';
import type { Payment } from './people-types';

describe('formatPrice', () => {
  it.each([
    [{ price: 150, currency: 'TWD' }, 'en', '150'],
    [{ price: '1500', currency: 'TWD' }, 'zh-TW', '1,500'],
    [{ price: 4.99, currency: 'USD' }, 'en', '$4.99'],
    [{ price: 10, currency: 'XQQ' }, 'en', '10'],
  ])('%j in %s shows %s', (p, lang, want) => {
    expect(formatPrice(p, lang)).toContain(want);
  });
});

describe('handOver', () => {
  const payment = { id: 'p1', status: 'pending', points: 100, currency: 'TWD', price: 150 };
  it('follows a GET redirect, absolute or a path of the node', () => {
    expect(handOver({ payment, redirect_url: 'https://checkout.stripe.com/c/pay/cs_1', method: 'GET' }, 'http://n')).toEqual({ kind: 'get', url: 'https://checkout.stripe.com/c/pay/cs_1' });
    expect(handOver({ payment, redirect_url: '/api/v1/payments/sandbox/p1', method: 'GET' }, 'http://127.0.0.1:8080')).toEqual({ kind: 'get', url: 'http://127.0.0.1:8080/api/v1/payments/sandbox/p1' });
  });
  it('builds the ECPay form from its fields, under their own names', () => {
    const h = handOver({ payment, redirect_url: 'https://payment-stage.ecpay.com.tw/Cashier/AioCheckOut/V5', method: 'POST', fields: { MerchantID: '3002607', TotalAmount: '150', CheckMacValue: 'ABC' } }, 'http://n');
    expect(h).toEqual({ kind: 'post', action: 'https://payment-stage.ecpay.com.tw/Cashier/AioCheckOut/V5', fields: [['MerchantID', '3002607'], ['TotalAmount', '150'], ['CheckMacValue', 'ABC']] });
  });
  it.each(['javascript:alert(1)', 'data:text/html,x', 'http://[bad'])('refuses %s', (u) => {
    expect(() => handOver({ payment, redirect_url: u, method: 'GET' }, 'http://n')).toThrow(ApiError);
  });
});

describe('waitForPayment', () => {
  const p = (status: string): Payment => ({ id: 'p1', status, points: 100, currency: 'TWD', price: 150 });
  const noSleep = async () => {};

  it('polls until the payment is final, reporting each state', async () => {
    const answers = [p('pending'), p('pending'), p('succeeded')];
    const seen: string[] = [];
    const out = await waitForPayment(async () => answers.shift()!, 'p1', { sleep: noSleep, onUpdate: (x) => seen.push(x.status) });
    expect(out?.status).toBe('succeeded');
    expect(seen).toEqual(['pending', 'pending', 'succeeded']);
  });

  it('retries a network error, throws an API error', async () => {
    const answers: (Payment | ApiError)[] = [new ApiError(0, 'network'), p('failed')];
    const get = async () => {
      const a = answers.shift()!;
      if (a instanceof ApiError) throw a;
      return a;
    };
    expect((await waitForPayment(get, 'p1', { sleep: noSleep }))?.status).toBe('failed');
    await expect(waitForPayment(async () => { throw new ApiError(404, 'payment_not_found'); }, 'p1', { sleep: noSleep })).rejects.toMatchObject({ code: 'payment_not_found' });
  });

  it('gives up at the timeout with the last state seen', async () => {
    const out = await waitForPayment(async () => p('pending'), 'p1', { interval: 5, timeout: 30 });
    expect(out?.status).toBe('pending');
  });

  it('polls at once when poked (a wallet event), not after the interval', async () => {
    let poke = () => {};
    let calls = 0;
    const started = Date.now();
    const out = await waitForPayment(
      async () => {
        calls++;
        if (calls === 1) setTimeout(() => poke(), 10);
        return p(calls === 1 ? 'pending' : 'succeeded');
      },
      'p1',
      { interval: 60_000, wake: (f) => ((poke = f), () => {}) },
    );
    expect(out?.status).toBe('succeeded');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('knows the final states', () => {
    expect(['succeeded', 'failed', 'refunded'].every(isFinal)).toBe(true);
    expect(isFinal('pending')).toBe(false);
    expect(isFinal(undefined)).toBe(false);
  });
});
