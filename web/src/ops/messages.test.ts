import { describe, expect, it } from 'vitest';
import { opsMessages, otranslate } from './messages';
import { buckets, dimensions } from './query';

describe('operators’ texts', () => {
  it('has the same keys in both languages, none empty', () => {
    expect(Object.keys(opsMessages['zh-TW']).sort()).toEqual(Object.keys(opsMessages.en).sort());
    for (const l of ['en', 'zh-TW'] as const) for (const v of Object.values(opsMessages[l])) expect(v).not.toBe('');
  });
  it('names every dimension, bucket, quota level, quota period and chart bucket the pages compose', () => {
    const keys = [
      ...dimensions.map((d) => 'ops.dim.' + d),
      ...buckets.map((b) => 'ops.bucket.' + b),
      ...['ok', 'warn', 'over'].map((l) => 'ops.level.' + l),
      ...['month', 'quarter', 'year', 'total'].map((p) => 'ops.period.' + p),
      ...['day', 'week', 'month'].map((b) => 'ops.chartLabel.' + b),
    ];
    for (const l of ['en', 'zh-TW'] as const) for (const k of keys) expect(opsMessages[l]).toHaveProperty([k]);
  });
  it('fills slots and falls back to the app’s table (errors by code)', () => {
    expect(otranslate('en', 'ops.rows', { n: 3 })).toBe('3 rows');
    expect(otranslate('zh-TW', 'ops.jobsSplit', { cpu: 1, gpu: 2 })).toBe('CPU 1、GPU 2');
    expect(otranslate('en', 'error.wallet_not_found')).toBe('No wallet has this id or shared-wallet name.');
  });
});
