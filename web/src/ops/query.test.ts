import { describe, expect, it } from 'vitest';
import { periodFromQuery, usageFromQuery, bucketStarts, chartBucket, csvName, defaultPeriod, fmtHours, hoursOf, keyLabel, overviewQuery, quotaCrossing, quotaLevel, seriesOf, usageQuery, validPeriod } from './query';

describe('periods', () => {
  it('defaults to the last 30 UTC days, to exclusive', () => {
    expect(defaultPeriod(new Date('2026-03-05T23:30:00Z'))).toEqual({ from: '2026-02-04', to: '2026-03-06' });
    expect(defaultPeriod(new Date('2026-12-31T00:00:00Z'))).toEqual({ from: '2026-12-02', to: '2027-01-01' });
  });
  it.each([
    [{ from: '2026-01-01', to: '2026-02-01' }, true],
    [{ from: '2026-02-01', to: '2026-02-01' }, false],
    [{ from: '2026-03-01', to: '2026-02-01' }, false],
    [{ from: '2026-1-1', to: '2026-02-01' }, false],
    [{ from: '', to: '2026-02-01' }, false],
  ])('validPeriod(%o) = %s', (p, want) => expect(validPeriod(p)).toBe(want));
});

describe('queries', () => {
  it('builds the overview query', () => {
    expect(overviewQuery({ from: '2026-01-01', to: '2026-02-01' }, 5)).toEqual({ from: '2026-01-01', to: '2026-02-01', top: '5' });
  });
  it('leaves out empty buckets and filters, trims filters, adds the format', () => {
    const u = { group_by: 'user' as const, bucket: '' as const, from: '2026-01-01', to: '2026-02-01', filters: { cluster: ' hpc ', partition: '', wallet: 'unassigned' } };
    expect(usageQuery(u)).toEqual({ group_by: 'user', from: '2026-01-01', to: '2026-02-01', cluster: 'hpc', wallet: 'unassigned' });
    expect(usageQuery({ ...u, bucket: 'week' }, 'csv')).toMatchObject({ bucket: 'week', format: 'csv' });
    expect(csvName({ ...u, bucket: 'month' })).toBe('usage-user-month-2026-01-01-2026-02-01.csv');
  });
});

describe('numbers', () => {
  it('turns exact seconds into hours', () => {
    expect(hoursOf(5400)).toBe(1.5);
    expect(hoursOf(undefined)).toBe(0);
  });
  it('formats hours with at most two decimals', () => {
    expect(fmtHours(1234.5678, 'en')).toBe('1,234.57');
    expect(fmtHours(2, 'zh-TW')).toBe('2');
    expect(fmtHours(undefined, 'en')).toBe('0');
  });
});

describe('chart series', () => {
  it('sums rows per bucket in time order, in hours', () => {
    const s = seriesOf([
      { bucket: '2026-01-02', node_seconds: 3600, gpu_seconds: 0 },
      { bucket: '2026-01-01', node_seconds: 7200, gpu_seconds: 1800 },
      { bucket: '2026-01-02', node_seconds: 1800, gpu_seconds: 3600 },
      { key: 'no bucket', node_seconds: 99 },
    ]);
    expect(s.x).toEqual([Date.UTC(2026, 0, 1) / 1000, Date.UTC(2026, 0, 2) / 1000]);
    expect(s.node).toEqual([2, 1.5]);
    expect(s.core).toEqual([0.5, 1]);
    expect(seriesOf(undefined)).toEqual({ x: [], node: [], core: [] });
  });
  it('has a zero point for every bucket of the period without usage', () => {
    const s = seriesOf([{ bucket: '2026-01-02', node_seconds: 3600 }], bucketStarts({ from: '2026-01-01', to: '2026-01-04' }, 'day'));
    expect(s.node).toEqual([0, 1, 0]);
    expect(s.core).toEqual([0, 0, 0]);
  });
  it.each([
    [{ from: '2026-01-01', to: '2026-01-31' }, 'day'],
    [{ from: '2026-01-01', to: '2026-06-01' }, 'week'],
    [{ from: '2020-01-01', to: '2026-06-01' }, 'month'],
  ])('chartBucket(%o) = %s', (p, want) => expect(chartBucket(p)).toBe(want));
  it('lists bucket starts: Monday weeks, first-of-month months, to exclusive', () => {
    expect(bucketStarts({ from: '2026-01-30', to: '2026-02-02' }, 'day')).toEqual(['2026-01-30', '2026-01-31', '2026-02-01']);
    // 2026-01-07 is a Wednesday: its week starts on Monday the 5th.
    expect(bucketStarts({ from: '2026-01-07', to: '2026-01-20' }, 'week')).toEqual(['2026-01-05', '2026-01-12', '2026-01-19']);
    expect(bucketStarts({ from: '2026-01-15', to: '2026-03-01' }, 'month')).toEqual(['2026-01-01', '2026-02-01']);
  });
});

describe('labels and quota levels', () => {
  it('names rows', () => {
    expect(keyLabel({ key: 'w1', name: 'Physics' }, 'unassigned')).toBe('Physics');
    expect(keyLabel({ key: '' }, 'unassigned')).toBe('unassigned');
    expect(keyLabel({ key: 'ann' }, 'unassigned')).toBe('ann');
  });
  it.each([
    [{ node_hours_percent: 50, gpu_core_hours_percent: null }, 'ok'],
    [{ node_hours_percent: 10, gpu_core_hours_percent: 85 }, 'warn'],
    [{ node_hours_percent: 100 }, 'over'],
    [{}, 'ok'],
  ])('quotaLevel(%o) = %s', (q, want) => expect(quotaLevel(q)).toBe(want));
});

describe('live quota thresholds', () => {
  const at = '2026-02-01T00:00:00Z';
  it('reads the event the WebSocket carries', () => {
    const data = { quota_id: 'q', wallet_id: 'w1', metric: 'gpu_core_hours', threshold: 80, used: 81.5, quota: 100, created_at: at };
    expect(quotaCrossing({ type: 'quota.threshold', wallet_id: 'w1', data, at })).toEqual({ wallet_id: 'w1', metric: 'gpu_core_hours', threshold: 80, used: 81.5, quota: 100, at });
    expect(quotaCrossing({ type: 'quota.threshold', data: JSON.stringify(data), at })?.threshold).toBe(80);
  });
  it.each([
    [{ type: 'wallet.balance', at }],
    [{ type: 'quota.threshold', data: 'not json', at }],
    [{ type: 'quota.threshold', data: { metric: 'points', threshold: 80 }, at }],
    [{ type: 'quota.threshold', data: { metric: 'node_hours' }, at }],
  ])('ignores %o', (ev) => expect(quotaCrossing(ev)).toBeNull());
});

describe('bookmarks', () => {
  const now = new Date('2026-03-05T12:00:00Z');
  it('reads back what usageQuery wrote', () => {
    const u = { group_by: 'partition' as const, bucket: 'week' as const, from: '2026-01-01', to: '2026-02-01', filters: { cluster: 'hpc', wallet: 'unassigned' } };
    expect(usageFromQuery(new URLSearchParams(usageQuery(u)), now)).toEqual(u);
  });
  it('falls back to defaults on missing or wrong values', () => {
    expect(usageFromQuery(new URLSearchParams('group_by=nope&bucket=hour&from=2026-02-01&to=2026-01-01'), now)).toEqual({
      ...defaultPeriod(now), group_by: 'wallet', bucket: '', filters: {},
    });
    expect(periodFromQuery(new URLSearchParams(''), now)).toEqual(defaultPeriod(now));
    expect(periodFromQuery(new URLSearchParams('from=2026-01-01&to=2026-01-08'), now)).toEqual({ from: '2026-01-01', to: '2026-01-08' });
  });
});
