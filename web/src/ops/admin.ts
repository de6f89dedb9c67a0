// The logic of the operators' and admins' management pages (sources, users, wallets, poem
// sets, accounting tables, the audit log), kept out of the components so Vitest can read it.
import type { components } from '../lib/api-types';
import { ApiError } from '../lib/api';

type S = components['schemas'];
export type Source = S['Source'];
export type ProcessedFile = S['ProcessedFile'];
export type IngestError = S['IngestError'];
export type User = S['User'];
export type UserPage = S['UserPage'];
export type AuditEntry = S['AuditEntry'];
export type Mapping = S['Mapping'];
export type Rate = S['Rate'];
export type QuotaEvent = S['QuotaEvent'];
export type Charge = S['Charge'];
export type ClusterUser = S['ClusterUser'];
export type PoemSet = S['PoemSet'];

export const sourceFormats = ['slurm-sacct', 'slurm-jobcomp', 'pbs'] as const;
export const sourceFields = ['name', 'dir', 'glob', 'format', 'cluster', 'interval', 'timezone', 'columns'] as const;
export const roles = ['user', 'operator', 'admin', 'service'] as const;

// The codes of the ingest roots' refusals name the field they are about.
const codeField: Record<string, string> = {
  dir_outside_ingest_roots: 'dir',
  ingest_root_required: 'dir',
  glob_outside_dir: 'glob',
  source_name_taken: 'name',
};

/**
 * fieldErrors names the form fields an invalid answer is about. The API's validation answer
 * is one problem whose detail lists every problem, "; "-separated, each starting with the JSON
 * field it is about ("interval \"x\" is not a duration"; "dir /x: no such directory"); the
 * page marks those fields and says so in the person's language, never quoting the detail.
 */
export function fieldErrors(err: unknown, fields: readonly string[]): string[] {
  if (!(err instanceof ApiError)) return [];
  const out = new Set<string>();
  const byCode = codeField[err.code];
  if (byCode && fields.includes(byCode)) out.add(byCode);
  const detail = typeof err.problem.detail === 'string' ? err.problem.detail : '';
  if (err.status === 400 || err.status === 409) {
    for (const part of detail.split(/;\s+|\n/)) {
      const word = part.trim().match(/^([a-z_]+)\b/)?.[1];
      if (word && fields.includes(word)) out.add(word);
      else if (word === 'interval_seconds' && fields.includes('interval')) out.add('interval');
    }
  }
  return fields.filter((f) => out.has(f));
}

/** sourcePatch returns the fields of a source's edit form that differ from the stored source. */
export function sourcePatch(
  src: Pick<Source, 'interval' | 'enabled' | 'glob' | 'timezone' | 'dir'>,
  form: { interval: string; enabled: boolean; glob: string; timezone: string; dir: string },
): Record<string, string | boolean> {
  const p: Record<string, string | boolean> = {};
  if (form.interval.trim() !== src.interval) p.interval = form.interval.trim();
  if (form.enabled !== src.enabled) p.enabled = form.enabled;
  if (form.glob !== src.glob) p.glob = form.glob;
  if (form.timezone !== src.timezone) p.timezone = form.timezone;
  if (form.dir !== src.dir) p.dir = form.dir;
  return p;
}

/** fileTotals sums what a source's files say: the figures the scan watch shows. */
export function fileTotals(files: ProcessedFile[]): { files: number; lines: number; records: number; errors: number; latest: string } {
  let lines = 0, records = 0, errors = 0, latest = '';
  for (const f of files) {
    lines += f.lines ?? 0;
    records += f.records ?? 0;
    errors += f.errors ?? 0;
    if ((f.updated_at ?? '') > latest) latest = f.updated_at ?? '';
  }
  return { files: files.length, lines, records, errors, latest };
}

/**
 * scanSettled says whether a scan is over, from two polls of the source's files: a file was
 * written after `before` (the latest write the page saw before asking: the node's clock, not
 * the browser's) and nothing changed between the polls; or nothing new was written at all
 * (no change for `quietPolls` polls in a row).
 */
export function scanSettled(
  prev: ReturnType<typeof fileTotals> | null,
  cur: ReturnType<typeof fileTotals>,
  before: string,
  unchangedPolls: number,
  quietPolls = 5,
): boolean {
  const same = prev !== null && JSON.stringify(prev) === JSON.stringify(cur);
  if (cur.latest > before && same) return true;
  return same && unchangedPolls >= quietPolls;
}

/** CursorPages keeps the cursors of the pages already seen, so "previous" works with the API's forward cursors. */
export class CursorPages {
  private stack: string[] = [];
  cursor = '';
  next = '';
  get index(): number {
    return this.stack.length;
  }
  get hasPrev(): boolean {
    return this.stack.length > 0;
  }
  forward(): string {
    this.stack.push(this.cursor);
    this.cursor = this.next;
    return this.cursor;
  }
  back(): string {
    this.cursor = this.stack.pop() ?? '';
    return this.cursor;
  }
  reset() {
    this.stack = [];
    this.cursor = '';
    this.next = '';
  }
}

/** A page of a list the API pages by cursor: next_cursor is absent after the last page. */
export interface CursorPage<T> {
  items?: T[];
  next_cursor?: string;
}

/** opsPageSize is how many items the operators' lists ask for at once; "show more" reads the next page by its cursor. */
export const opsPageSize = 50;

type Query = Record<string, string | number | undefined>;

/** pageQuery is a list's query for one page: its filters, page_size and, when going on, the cursor. */
export function pageQuery(filters: Query, cursor = '', size = opsPageSize): Query {
  const q: Query = { ...filters, page_size: size };
  if (cursor) q.cursor = cursor;
  return q;
}

/**
 * appendPage is what a list shows after reading a page: the page alone when it is the first
 * (a new filter, a reload), else the items shown and then the page's ("show more"); next is
 * the cursor of the page after it ('' after the last).
 */
export function appendPage<T>(shown: readonly T[], page: CursorPage<T>, first: boolean): { items: T[]; next: string } {
  const items = page.items ?? [];
  return { items: first ? [...items] : [...shown, ...items], next: page.next_cursor ?? '' };
}

/**
 * readPages reads the first `pages` pages of a list again (at least one; fewer when the list
 * ends first): what the page shows, refreshed (the scan watch polls a source's files so).
 */
export async function readPages<T>(read: (cursor: string) => Promise<CursorPage<T>>, pages: number): Promise<{ items: T[]; next: string; pages: number }> {
  let out = { items: [] as T[], next: '' };
  let n = 0;
  do {
    out = appendPage(out.items, await read(out.next), n === 0);
    n++;
  } while (out.next && n < Math.max(1, pages));
  return { ...out, pages: n };
}

/** pageCount is the number of pages of a numbered list (at least 1). */
export function pageCount(total: number, size: number): number {
  return Math.max(1, Math.ceil((total || 0) / Math.max(1, size)));
}

/** newKey is a fresh Idempotency-Key for one submission of a money form. */
export function newKey(): string {
  return globalThis.crypto.randomUUID();
}

/** parseAmount reads a whole number of points; signed only when allowed (an adjustment). null when invalid. */
export function parseAmount(text: string, signed: boolean): number | null {
  const t = text.trim();
  if (!(signed ? /^[-+]?\d{1,15}$/ : /^\+?\d{1,15}$/).test(t)) return null;
  const n = Number(t);
  if (n === 0 || (!signed && n < 0)) return null;
  return n;
}

/** auditQuery turns the audit log's filter form into the API's query (dates as UTC days, to inclusive of its day). */
export function auditQuery(f: { actor_id: string; action: string; target_id: string; from: string; to: string }, cursor: string, size = 25) {
  const q: Record<string, string | number | undefined> = { page_size: size };
  if (f.actor_id.trim()) q.actor_id = f.actor_id.trim();
  if (f.action.trim()) q.action = f.action.trim();
  if (f.target_id.trim()) q.target_id = f.target_id.trim();
  if (f.from) q.from = f.from + 'T00:00:00Z';
  if (f.to) q.to = new Date(Date.parse(f.to + 'T00:00:00Z') + 86_400_000).toISOString().replace('.000Z', 'Z');
  if (cursor) q.cursor = cursor;
  return q;
}

/** chargesFirstUnpaid orders charges unpaid first (unpaid, then pending), then the charged ones, newest first within each. */
export function chargesFirstUnpaid(items: Charge[]): Charge[] {
  const unpaid = (c: Charge) => (c.status === 'unpaid' ? 0 : c.status === 'pending' ? 1 : 2);
  return [...items].sort((a, b) => unpaid(a) - unpaid(b) || (b.created_at ?? '').localeCompare(a.created_at ?? ''));
}

/** parsePoemSet reads a poem set's JSON file: an object with a slug and a list of poems, or a reason key. */
export function parsePoemSet(text: string): { set: PoemSet } | { error: 'ops.poems.notJson' | 'ops.poems.notSet' } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { error: 'ops.poems.notJson' };
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return { error: 'ops.poems.notSet' };
  const o = v as Record<string, unknown>;
  if (typeof o.slug !== 'string' || !o.slug || !Array.isArray(o.poems)) return { error: 'ops.poems.notSet' };
  return { set: o as unknown as PoemSet };
}

/** linesOf splits a textarea into a poem's lines (blank lines dropped). */
export function linesOf(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** shortId shows the end of a UUID: ids are UUIDv7, whose start is a timestamp shared by ids made in the same minute. */
export const shortId = (id?: string) => (id && id.length > 12 ? '…' + id.slice(-8) : (id ?? ''));
