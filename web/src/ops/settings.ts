// The logic of the system configuration page (GET/PATCH /api/v1/admin/config): what kind of
// value each setting takes, the form's text of a value and back, the patch of what changed
// (null puts a setting's default back), and the API's per-key refusals said in the admin's
// language — never the API's English message, only the bounds it names (numbers and periods).
import type { components } from '../lib/api-types';
import { ApiError } from '../lib/api';

export type ConfigSetting = components['schemas']['ConfigSetting'];
export type ConfigList = components['schemas']['ConfigList'];

export type SettingKind = 'int' | 'rate' | 'period' | 'text' | 'json';

/** settingKind is the kind of value a setting takes, from its key and its default's JSON type. */
export function settingKind(s: Pick<ConfigSetting, 'key' | 'default'>): SettingKind {
  if (typeof s.default === 'number') return 'int';
  if (typeof s.default === 'string') {
    if (s.key.startsWith('rate_limit_')) return 'rate';
    if (s.key.startsWith('retention_')) return 'period';
    return 'text';
  }
  return 'json';
}

/** formValue is the text of a value in the form: strings as they are, anything else as JSON. */
export function formValue(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/**
 * toValue reads a field's text as the JSON value the API takes: a whole number for a number
 * setting (anything else is sent as typed, so the API's refusal names it), a string for a rate,
 * a period or a text, parsed JSON for the others (undefined when it is not JSON).
 */
export function toValue(kind: SettingKind, text: string): unknown {
  const t = text.trim();
  if (kind === 'int') return /^[+-]?\d{1,15}$/.test(t) ? Number(t) : t;
  if (kind !== 'json') return t;
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}

/**
 * configPatch is the body of PATCH /api/v1/admin/config for the form: the settings whose text
 * differs from their value in force, and null for those put back to their default (only when
 * a stored value overrides it). bad lists the fields whose text cannot be sent (JSON that does
 * not parse).
 */
export function configPatch(
  settings: ConfigSetting[],
  form: Record<string, string>,
  reset: Record<string, boolean>,
): { patch: Record<string, unknown>; bad: string[] } {
  const patch: Record<string, unknown> = {};
  const bad: string[] = [];
  for (const s of settings) {
    if (reset[s.key]) {
      if (s.source === 'database') patch[s.key] = null;
      continue;
    }
    const text = form[s.key];
    if (text === undefined || text.trim() === formValue(s.value).trim()) continue;
    const kind = settingKind(s);
    const v = toValue(kind, text);
    if (v === undefined) bad.push(s.key);
    else if (kind !== 'json' || JSON.stringify(v) !== JSON.stringify(s.value)) patch[s.key] = v;
  }
  return { patch, bad };
}

/** keyErrors reads the API's 400 invalid answer: its message per bad key (under errors). */
export function keyErrors(err: unknown): Record<string, string> {
  if (!(err instanceof ApiError) || err.status !== 400) return {};
  const e = err.problem.errors;
  if (!e || typeof e !== 'object' || Array.isArray(e)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(e as Record<string, unknown>)) out[k] = typeof v === 'string' ? v : '';
  return out;
}

/**
 * keyError turns one per-key refusal into a message key of the admin's language and its
 * slots: by the setting's kind, with the bounds the API's message names (whole numbers, or
 * periods such as 30d), never its words.
 */
export function keyError(kind: SettingKind | undefined, message: string): { key: string; params: Record<string, string> } {
  if (kind === undefined || message === 'unknown setting') return { key: 'ops.cfg.err.unknown', params: {} };
  if (kind === 'int') {
    const m = message.match(/from (-?\d+) to (-?\d+)/);
    return m ? { key: 'ops.cfg.err.intRange', params: { min: m[1], max: m[2] } } : { key: 'ops.cfg.err.int', params: {} };
  }
  if (kind === 'rate') return { key: 'ops.cfg.err.rate', params: {} };
  if (kind === 'period') {
    const m = message.match(/from (\d+[smhd]|0) to (\d+[smhd]|0)/);
    const zero = message.includes('"0"');
    if (m) return { key: zero ? 'ops.cfg.err.periodRangeZero' : 'ops.cfg.err.periodRange', params: { min: m[1], max: m[2] } };
    return { key: 'ops.cfg.err.period', params: {} };
  }
  if (kind === 'json') return { key: 'ops.cfg.err.json', params: {} };
  return { key: 'ops.cfg.err.value', params: {} };
}

/** The route classes of the rate limits (rate_limit_<class>), in the order the node lists them. */
export const rateClasses = ['auth', 'money', 'jobs', 'draws', 'reads', 'writes', 'ws'] as const;

/** settingLabel names a setting's message keys: its name and what it does (null: the API's own words only). */
export function settingLabel(key: string): { name: string; desc: string; params: Record<string, string> } | null {
  const cls = key.match(/^rate_limit_(\w+)$/)?.[1];
  if (cls && (rateClasses as readonly string[]).includes(cls)) return { name: 'ops.cfg.key.rate_limit', desc: 'ops.cfg.desc.rate_limit', params: { cls } };
  if (knownKeys.includes(key)) return { name: 'ops.cfg.key.' + key, desc: 'ops.cfg.desc.' + key, params: {} };
  return null;
}

export const knownKeys = [
  'price_interpretation',
  'retention_job_results',
  'retention_ingest_errors',
  'retention_mail_outbox',
  'retention_tokens',
  'retention_audit_logs',
];

/** settingOrder lists the price first, then the rate limits, the retention periods, and the others by key. */
export function settingOrder(items: ConfigSetting[]): ConfigSetting[] {
  const rank = (k: string) => (k === 'price_interpretation' ? 0 : k.startsWith('payment_') ? 1 : k.startsWith('rate_limit_') ? 2 : k.startsWith('retention_') ? 3 : 4);
  const cls = (k: string) => (rateClasses as readonly string[]).indexOf(k.replace('rate_limit_', ''));
  return [...items].sort((a, b) => rank(a.key) - rank(b.key) || cls(a.key) - cls(b.key) || a.key.localeCompare(b.key));
}
