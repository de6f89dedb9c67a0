import { describe, expect, it } from 'vitest';
import { ApiError } from '../lib/api';
import {
  auditQuery, chargesFirstUnpaid, CursorPages, fieldErrors, fileTotals, linesOf, pageCount, parseAmount, parsePoemSet,
  scanSettled, shortId, sourceFields, sourcePatch, type Charge, type ProcessedFile,
} from './admin';
import { opsMessages, otranslate } from './messages';

const invalid = (detail: string, code = 'invalid', status = 400) => new ApiError(status, code, { detail, code });

describe('fieldErrors', () => {
  it.each([
    ['interval "x" is not a duration (e.g. 30s, 5m, 1h)', ['interval']],
    ['name is required: a short name; dir /nope: no such directory; cluster is required', ['name', 'dir', 'cluster']],
    ['interval_seconds must be from 1 to 2592000', ['interval']],
    ['format must be slurm-sacct, slurm-jobcomp or pbs, not "x"', ['format']],
    ['something else entirely', []],
  ])('%s', (detail, want) => {
    expect(fieldErrors(invalid(detail), sourceFields)).toEqual(want);
  });
  it('takes the field from a refusal code, in the form’s order', () => {
    expect(fieldErrors(invalid('glob x escapes; timezone bad', 'glob_outside_dir'), sourceFields)).toEqual(['glob', 'timezone']);
    expect(fieldErrors(invalid('/x is not inside', 'dir_outside_ingest_roots'), sourceFields)).toEqual(['dir']);
    expect(fieldErrors(new ApiError(409, 'source_name_taken', {}), sourceFields)).toEqual(['name']);
  });
  it('names only the fields the form has, and nothing for other errors', () => {
    expect(fieldErrors(invalid('name is required; dir /x: no such directory'), ['dir'])).toEqual(['dir']);
    expect(fieldErrors(new Error('boom'), sourceFields)).toEqual([]);
    expect(fieldErrors(new ApiError(503, 'scan_unavailable', { detail: 'name x' }), sourceFields)).toEqual([]);
  });
});

describe('sourcePatch', () => {
  const src = { interval: '30s', enabled: true, glob: '*', timezone: 'UTC', dir: '/logs' };
  it('sends only what changed', () => {
    expect(sourcePatch(src, { ...src })).toEqual({});
    expect(sourcePatch(src, { ...src, interval: ' 5m ', enabled: false })).toEqual({ interval: '5m', enabled: false });
    expect(sourcePatch(src, { ...src, glob: '', dir: '/other' })).toEqual({ glob: '', dir: '/other' });
  });
});

describe('the scan watch', () => {
  const file = (updated_at: string, records = 1): ProcessedFile => ({ path: 'a', lines: records + 1, records, errors: 1, updated_at });
  it('sums the files', () => {
    expect(fileTotals([file('2026-01-01T00:00:01Z', 2), file('2026-01-01T00:00:03Z', 3)])).toEqual({
      files: 2, lines: 7, records: 5, errors: 2, latest: '2026-01-01T00:00:03Z',
    });
    expect(fileTotals([])).toEqual({ files: 0, lines: 0, records: 0, errors: 0, latest: '' });
  });
  it('is over when a file was written after the request and the next poll saw no change', () => {
    const before = fileTotals([file('2026-01-01T00:00:01Z')]);
    const since = before.latest;
    const after = fileTotals([file('2026-01-01T00:00:03Z', 5)]);
    expect(scanSettled(null, before, since, 0)).toBe(false);
    expect(scanSettled(before, after, since, 0)).toBe(false); // still changing
    expect(scanSettled(after, after, since, 1)).toBe(true);
    expect(scanSettled(before, before, since, 2)).toBe(false); // nothing new yet
    expect(scanSettled(before, before, since, 5)).toBe(true); // nothing new at all
  });
});

describe('pages', () => {
  it('keeps the cursors seen, so the previous page comes back', () => {
    const p = new CursorPages();
    expect(p.hasPrev).toBe(false);
    p.next = 'c2';
    expect(p.forward()).toBe('c2');
    p.next = 'c3';
    expect(p.forward()).toBe('c3');
    expect(p.index).toBe(2);
    expect(p.back()).toBe('c2');
    expect(p.back()).toBe('');
    expect(p.hasPrev).toBe(false);
    p.next = 'x';
    p.reset();
    expect([p.cursor, p.next, p.index]).toEqual(['', '', 0]);
  });
  it('counts numbered pages', () => {
    expect(pageCount(0, 20)).toBe(1);
    expect(pageCount(20, 20)).toBe(1);
    expect(pageCount(21, 20)).toBe(2);
  });
});

describe('amounts', () => {
  it.each([
    ['50', false, 50], [' +7 ', false, 7], ['-20', false, null], ['0', false, null], ['1.5', false, null], ['', false, null],
    ['-20', true, -20], ['+3', true, 3], ['0', true, null], ['abc', true, null], ['1e3', true, null],
  ])('%j signed=%s → %s', (text, signed, want) => {
    expect(parseAmount(text as string, signed as boolean)).toBe(want);
  });
});

describe('auditQuery', () => {
  it('sends only the filters given, the to day included', () => {
    expect(auditQuery({ actor_id: ' ', action: 'user.update', target_id: '', from: '2026-01-01', to: '2026-01-31' }, '', 25)).toEqual({
      page_size: 25, action: 'user.update', from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z',
    });
    expect(auditQuery({ actor_id: 'a', action: '', target_id: 't', from: '', to: '' }, 'cur')).toEqual({ page_size: 25, actor_id: 'a', target_id: 't', cursor: 'cur' });
  });
});

describe('charges', () => {
  it('lists unpaid first, then pending, then charged, newest first in each', () => {
    const c = (id: number, status: Charge['status'], created_at: string): Charge => ({ id, status, created_at });
    const out = chargesFirstUnpaid([c(1, 'charged', '2026-01-03'), c(2, 'unpaid', '2026-01-01'), c(3, 'pending', '2026-01-02'), c(4, 'unpaid', '2026-01-02')]);
    expect(out.map((x) => x.id)).toEqual([4, 2, 3, 1]);
  });
});

describe('poem set files', () => {
  it('reads a set, or says why not', () => {
    expect(parsePoemSet('{')).toEqual({ error: 'ops.poems.notJson' });
    expect(parsePoemSet('[]')).toEqual({ error: 'ops.poems.notSet' });
    expect(parsePoemSet('{"slug":"x"}')).toEqual({ error: 'ops.poems.notSet' });
    const ok = parsePoemSet('{"slug":"x","name":"X","poems":[]}');
    expect('set' in ok && ok.set.slug).toBe('x');
  });
  it('splits lines', () => {
    expect(linesOf(' a \n\n b\n')).toEqual(['a', 'b']);
  });
});

describe('shortId', () => {
  it('shows the random end of a UUIDv7, not its shared time prefix', () => {
    expect(shortId('01a24346-dcac-78ed-b6fd-fc4a5b66ed9e')).toBe('…5b66ed9e');
    expect(shortId('short')).toBe('short');
    expect(shortId(undefined)).toBe('');
  });
});

describe('the admin pages’ texts', () => {
  it('name every role, status, charge status, sort and accounting tab the pages compose, in both languages', () => {
    const keys = [
      ...['user', 'operator', 'admin', 'service'].map((r) => 'ops.role.' + r),
      ...['active', 'suspended'].map((s) => 'ops.status.' + s),
      ...['unpaid', 'pending', 'charged'].map((s) => 'ops.charge.' + s),
      ...['-created_at', 'created_at', 'email', '-email'].map((s) => 'ops.users.sort.' + s),
      ...['mappings', 'rates', 'quotas', 'charges', 'cluster-users'].map((t) => 'ops.acct.' + t),
      ...sourceFields.map((f) => 'ops.src.' + f),
    ];
    for (const l of ['en', 'zh-TW'] as const) for (const k of keys) expect(opsMessages[l]).toHaveProperty([k]);
  });
  it('explain last_admin in the person’s language, never the detail', () => {
    expect(otranslate('en', 'error.last_admin')).toMatch(/last active admin/);
    expect(otranslate('zh-TW', 'error.last_admin')).toMatch(/最後一位管理員/);
  });
});
