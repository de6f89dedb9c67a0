// The operators' pages' own logic: the query strings of the accounting reports, the default
// period, hour and number formatting, and the chart's series from a bucketed usage report.
import type { components } from '../lib/api-types';

type S = components['schemas'];
export type Overview = S['Overview'];
export type UsageSum = S['UsageSum'];
export type UsageReport = S['UsageReport'];
export type Quota = S['Quota'];

export const dimensions = ['wallet', 'user', 'group', 'account', 'partition', 'cluster'] as const;
export type Dimension = (typeof dimensions)[number];
export const buckets = ['', 'day', 'week', 'month'] as const;
export type Bucket = (typeof buckets)[number];

/** A period of UTC days: from inclusive, to exclusive, both YYYY-MM-DD (the API's contract). */
export interface Period {
  from: string;
  to: string;
}

export interface UsageParams extends Period {
  group_by: Dimension;
  bucket: Bucket;
  filters: Partial<Record<Dimension, string>>;
}

const isoDay = (d: Date) => d.toISOString().slice(0, 10);

/** defaultPeriod is the last 30 UTC days up to and including today: [today-29, tomorrow). */
export function defaultPeriod(now: Date = new Date()): Period {
  const day = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return { from: isoDay(new Date(day - 29 * 86_400_000)), to: isoDay(new Date(day + 86_400_000)) };
}

/** validPeriod tells whether both dates are YYYY-MM-DD and from comes before to. */
export function validPeriod(p: Period): boolean {
  const re = /^\d{4}-\d{2}-\d{2}$/;
  return re.test(p.from) && re.test(p.to) && !Number.isNaN(Date.parse(p.from)) && !Number.isNaN(Date.parse(p.to)) && p.from < p.to;
}

/** overviewQuery is the query of GET /api/v1/accounting/overview. */
export function overviewQuery(p: Period, top = 10): Record<string, string> {
  return { from: p.from, to: p.to, top: String(top) };
}

/** usageQuery is the query of GET /api/v1/accounting/usage: empty values are left out, filters trimmed. */
export function usageQuery(u: UsageParams, format?: 'csv'): Record<string, string> {
  const q: Record<string, string> = { group_by: u.group_by, from: u.from, to: u.to };
  if (u.bucket) q.bucket = u.bucket;
  for (const d of dimensions) {
    const v = u.filters[d]?.trim();
    if (v) q[d] = v;
  }
  if (format) q.format = format;
  return q;
}

/** hoursOf is exact seconds as hours (the API's hour fields are these, rounded). */
export function hoursOf(seconds: number | undefined): number {
  return (seconds ?? 0) / 3600;
}

/** fmtHours shows hours with at most two decimals in lang's digits grouping. */
export function fmtHours(h: number | undefined, lang: string): string {
  return new Intl.NumberFormat(lang, { maximumFractionDigits: 2 }).format(h ?? 0);
}

/** fmtNumber shows a count or points with at most three decimals. */
export function fmtNumber(n: number | undefined, lang: string): string {
  return new Intl.NumberFormat(lang, { maximumFractionDigits: 3 }).format(n ?? 0);
}

/** Series for the usage chart: x in Unix seconds (the bucket's first UTC day), node-hours and GPU core-hours. */
export interface Series {
  x: number[];
  node: number[];
  core: number[];
}

/** chartBucket picks the chart's bucket for a period: days up to 92 days, weeks up to 2 years, else months. */
export function chartBucket(p: Period): 'day' | 'week' | 'month' {
  const days = (Date.parse(p.to) - Date.parse(p.from)) / 86_400_000;
  return days <= 92 ? 'day' : days <= 731 ? 'week' : 'month';
}

/** bucketStarts lists the first UTC day (YYYY-MM-DD) of every bucket that meets [from, to); weeks start on Monday, as the API's. */
export function bucketStarts(p: Period, bucket: 'day' | 'week' | 'month'): string[] {
  const d = new Date(p.from + 'T00:00:00Z');
  if (bucket === 'week') d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  if (bucket === 'month') d.setUTCDate(1);
  const end = Date.parse(p.to + 'T00:00:00Z');
  const out: string[] = [];
  while (d.getTime() < end && out.length < 5000) {
    out.push(isoDay(d));
    if (bucket === 'day') d.setUTCDate(d.getUTCDate() + 1);
    else if (bucket === 'week') d.setUTCDate(d.getUTCDate() + 7);
    else d.setUTCMonth(d.getUTCMonth() + 1);
  }
  return out;
}

/**
 * seriesOf sums a bucketed report's rows per bucket, in time order. Given the buckets of the
 * period (bucketStarts), every one of them is a point, zero where nothing ran.
 */
export function seriesOf(rows: UsageSum[] | undefined, starts: string[] = []): Series {
  const by = new Map<string, { node: number; core: number }>();
  for (const k of starts) by.set(k, { node: 0, core: 0 });
  for (const r of rows ?? []) {
    if (!r.bucket) continue;
    const s = by.get(r.bucket) ?? { node: 0, core: 0 };
    s.node += r.node_seconds ?? 0;
    s.core += r.gpu_seconds ?? 0;
    by.set(r.bucket, s);
  }
  const keys = [...by.keys()].sort();
  return {
    x: keys.map((k) => Date.parse(k + 'T00:00:00Z') / 1000),
    node: keys.map((k) => by.get(k)!.node / 3600),
    core: keys.map((k) => by.get(k)!.core / 3600),
  };
}

/** keyLabel names a row's key: a wallet's name when it has one; "" is the unassigned usage. */
export function keyLabel(r: UsageSum, unassigned: string): string {
  if (r.name) return r.name;
  if (r.key === '' || r.key === undefined) return unassigned;
  return r.key;
}

/** quotaLevel is how full a quota is by the higher of its two percents: ok, warn (≥ 80 %), over (≥ 100 %). */
export function quotaLevel(q: Quota): 'ok' | 'warn' | 'over' {
  const p = Math.max(q.node_hours_percent ?? 0, q.gpu_core_hours_percent ?? 0);
  return p >= 100 ? 'over' : p >= 80 ? 'warn' : 'ok';
}

/** csvName is the file name of a CSV download. */
export function csvName(u: UsageParams): string {
  return `usage-${u.group_by}${u.bucket ? '-' + u.bucket : ''}-${u.from}-${u.to}.csv`;
}

/** A quota threshold crossed, as the WebSocket's quota.threshold event carries it. */
export interface QuotaCrossing {
  wallet_id: string;
  metric: 'node_hours' | 'gpu_core_hours';
  threshold: number;
  used: number;
  quota: number;
  at: string;
}

/** quotaCrossing reads a live event's quota threshold, or null when the event is not one. */
export function quotaCrossing(ev: { type: string; wallet_id?: string; data?: unknown; at: string }): QuotaCrossing | null {
  if (ev.type !== 'quota.threshold') return null;
  let d = ev.data;
  if (typeof d === 'string') {
    try {
      d = JSON.parse(d);
    } catch {
      return null;
    }
  }
  if (!d || typeof d !== 'object') return null;
  const o = d as Record<string, unknown>;
  const metric = o.metric === 'gpu_core_hours' ? 'gpu_core_hours' : o.metric === 'node_hours' ? 'node_hours' : null;
  if (!metric || typeof o.threshold !== 'number') return null;
  return {
    wallet_id: String(o.wallet_id ?? ev.wallet_id ?? ''),
    metric,
    threshold: o.threshold,
    used: Number(o.used ?? 0),
    quota: Number(o.quota ?? 0),
    at: String(o.created_at ?? ev.at),
  };
}

/** periodFromQuery reads ?from=&to= (a bookmark of a report), or the default period when they are not a valid pair. */
export function periodFromQuery(q: URLSearchParams, now: Date = new Date()): Period {
  const p = { from: q.get('from') ?? '', to: q.get('to') ?? '' };
  return validPeriod(p) ? p : defaultPeriod(now);
}

/** usageFromQuery reads the usage explorer's choices back from its URL (what usageQuery wrote), with defaults. */
export function usageFromQuery(q: URLSearchParams, now: Date = new Date()): UsageParams {
  const g = q.get('group_by') as Dimension;
  const b = (q.get('bucket') ?? '') as Bucket;
  const filters: Partial<Record<Dimension, string>> = {};
  for (const d of dimensions) {
    const v = q.get(d)?.trim();
    if (v) filters[d] = v;
  }
  return {
    ...periodFromQuery(q, now),
    group_by: dimensions.includes(g) ? g : 'wallet',
    bucket: buckets.includes(b) ? b : '',
    filters,
  };
}
