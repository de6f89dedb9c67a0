import { describe, expect, it } from 'vitest';
import { ApiError } from '../lib/api';
import { opsMessages, otranslate } from './messages';
import {
  configPatch, formValue, keyError, keyErrors, knownKeys, rateClasses, settingKind, settingLabel, settingOrder, toValue, type ConfigSetting,
} from './settings';

const s = (key: string, value: unknown, def: unknown = value, source: ConfigSetting['source'] = 'default'): ConfigSetting => ({ key, value, default: def, source });

// The node's settings as GET /api/v1/admin/config lists them (sorted by key).
const list = [
  s('price_interpretation', 12, 10, 'database'),
  s('rate_limit_auth', '20/m'),
  s('rate_limit_reads', '600/m', '300/m', 'flag'),
  s('retention_audit_logs', '0'),
  s('retention_job_results', '30d', '90d', 'database'),
  s('payment_packages', [{ id: 'small', points: 100 }]),
];

describe('settingKind', () => {
  it.each([
    ['price_interpretation', 10, 'int'],
    ['rate_limit_ws', '20/m', 'rate'],
    ['retention_tokens', '7d', 'period'],
    ['something_text', 'x', 'text'],
    ['payment_packages', [{ id: 'small' }], 'json'],
    ['payment_packages', 'small:100:TWD:150', 'text'],
  ])('%s (%j) is %s', (key, def, want) => {
    expect(settingKind({ key, default: def })).toBe(want);
  });
});

describe('formValue and toValue', () => {
  it('shows strings as they are and anything else as JSON', () => {
    expect(formValue('20/m')).toBe('20/m');
    expect(formValue(10)).toBe('10');
    expect(formValue([{ id: 'a' }])).toBe('[{"id":"a"}]');
    expect(formValue(null)).toBe('');
  });
  it('reads a field as the JSON value the API takes', () => {
    expect(toValue('int', ' 7 ')).toBe(7);
    expect(toValue('int', 'seven')).toBe('seven'); // sent as typed: the API names it
    expect(toValue('int', '1.5')).toBe('1.5');
    expect(toValue('rate', ' 5/s ')).toBe('5/s');
    expect(toValue('period', '30d')).toBe('30d');
    expect(toValue('json', '[1, 2]')).toEqual([1, 2]);
    expect(toValue('json', '[1,')).toBeUndefined();
  });
});

describe('configPatch', () => {
  const form = () => Object.fromEntries(list.map((x) => [x.key, formValue(x.value)]));
  it('sends nothing when nothing changed (spaces and JSON spacing aside)', () => {
    const f = form();
    f.rate_limit_auth = ' 20/m ';
    f.payment_packages = '[ { "id": "small", "points": 100 } ]';
    expect(configPatch(list, f, {})).toEqual({ patch: {}, bad: [] });
  });
  it('sends only the changed settings, several at once, typed', () => {
    const f = { ...form(), price_interpretation: '7', rate_limit_auth: '5/s', retention_audit_logs: '365d' };
    expect(configPatch(list, f, {})).toEqual({ patch: { price_interpretation: 7, rate_limit_auth: '5/s', retention_audit_logs: '365d' }, bad: [] });
  });
  it('puts a stored value back to its default with null, and ignores a reset of a value not stored', () => {
    const f = { ...form(), price_interpretation: '99' };
    expect(configPatch(list, f, { price_interpretation: true, rate_limit_reads: true }).patch).toEqual({ price_interpretation: null });
  });
  it('names the fields whose JSON does not parse', () => {
    expect(configPatch(list, { ...form(), payment_packages: '[{' }, {})).toEqual({ patch: {}, bad: ['payment_packages'] });
  });
});

describe('keyErrors and keyError', () => {
  const refusal = new ApiError(400, 'invalid', {
    code: 'invalid',
    detail: 'price_interpretation: must be a whole number from 0 to 1000000; rate_limit_auth: bad',
    errors: { price_interpretation: 'must be a whole number from 0 to 1000000', rate_limit_auth: 'rate "lots" is not N/unit' },
  });
  it('reads the message per key of a 400, nothing from other errors', () => {
    expect(keyErrors(refusal)).toEqual({ price_interpretation: 'must be a whole number from 0 to 1000000', rate_limit_auth: 'rate "lots" is not N/unit' });
    expect(keyErrors(new ApiError(400, 'invalid_body', { detail: 'x' }))).toEqual({});
    expect(keyErrors(new ApiError(503, 'unavailable', { errors: { a: 'b' } }))).toEqual({});
    expect(keyErrors(new Error('boom'))).toEqual({});
  });
  it.each([
    ['int', 'must be a whole number from 0 to 1000000', 'ops.cfg.err.intRange', { min: '0', max: '1000000' }],
    ['int', 'must be a whole number', 'ops.cfg.err.int', {}],
    ['rate', 'anything', 'ops.cfg.err.rate', {}],
    ['period', 'must be a period such as "30d", "12h" or "90m" (from 1h to 36500d, or "0" to keep forever)', 'ops.cfg.err.periodRangeZero', { min: '1h', max: '36500d' }],
    ['period', 'must be from 1s to 3650d', 'ops.cfg.err.periodRange', { min: '1s', max: '3650d' }],
    ['period', 'odd', 'ops.cfg.err.period', {}],
    ['json', 'bad package', 'ops.cfg.err.json', {}],
    ['text', 'bad', 'ops.cfg.err.value', {}],
    [undefined, 'unknown setting', 'ops.cfg.err.unknown', {}],
    ['int', 'unknown setting', 'ops.cfg.err.unknown', {}],
  ] as const)('%s %s', (kind, message, key, params) => {
    expect(keyError(kind, message)).toEqual({ key, params });
  });
  it('says them in both languages, never with the API’s words', () => {
    const e = keyError('int', 'must be a whole number from 0 to 1000000');
    expect(otranslate('en', e.key, e.params)).toBe('Give a whole number from 0 to 1000000.');
    expect(otranslate('zh-TW', e.key, e.params)).toBe('請填 0 至 1000000 的整數。');
  });
});

describe('labels and order', () => {
  it('names every known setting and rate class in both languages', () => {
    for (const l of ['en', 'zh-TW'] as const) {
      for (const k of [...knownKeys, ...rateClasses.map((c) => 'rate_limit_' + c)]) {
        const lab = settingLabel(k)!;
        expect(opsMessages[l]).toHaveProperty([lab.name]);
        expect(opsMessages[l]).toHaveProperty([lab.desc]);
      }
      for (const c of rateClasses) expect(opsMessages[l]).toHaveProperty(['ops.cfg.class.' + c]);
      for (const src of ['default', 'flag', 'database']) expect(opsMessages[l]).toHaveProperty(['ops.cfg.source.' + src]);
    }
    expect(settingLabel('rate_limit_auth')?.params).toEqual({ cls: 'auth' });
    expect(settingLabel('rate_limit_other')).toBeNull();
    expect(settingLabel('payment_packages')).toBeNull();
  });
  it('lists the price first, then payments, rate limits by class, retention periods', () => {
    const ordered = settingOrder([...list, s('rate_limit_money', '10/m'), s('zeta', 'x')]).map((x) => x.key);
    expect(ordered).toEqual([
      'price_interpretation', 'payment_packages', 'rate_limit_auth', 'rate_limit_money', 'rate_limit_reads',
      'retention_audit_logs', 'retention_job_results', 'zeta',
    ]);
  });
});
