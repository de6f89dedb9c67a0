import { describe, expect, it } from 'vitest';
import { pickLang, translate } from './i18n';
import { messages } from './messages';

describe('pickLang', () => {
  it.each([
    [['zh-TW', 'en'], null, 'zh-TW'],
    [['zh-Hant-HK'], null, 'zh-TW'],
    [['en-US', 'zh-TW'], null, 'en'],
    [['fr-FR', 'en-GB'], null, 'en'],
    [['ja-JP'], null, 'zh-TW'],
    [[], null, 'zh-TW'],
    [['en-US'], 'zh-TW', 'zh-TW'],
    [['zh-TW'], 'en', 'en'],
    [['en-US'], 'de', 'en'],
  ] as const)('%j with stored %s → %s', (tags, stored, want) => {
    expect(pickLang(tags, stored)).toBe(want);
  });
});

describe('translate', () => {
  it('fills parameters', () => {
    expect(translate('en', 'poem.title', { number: 7, title: '甲午' })).toBe('Poem 7 · 甲午');
    expect(translate('zh-TW', 'poem.title', { number: 7, title: '甲午' })).toBe('第 7 籤 · 甲午');
  });
  it('falls back to the key for an unknown key', () => {
    expect(translate('en', 'no.such.key')).toBe('no.such.key');
  });
  it('has every key in both languages, none empty, with the same parameters', () => {
    const en = messages.en as Record<string, string>;
    const zh = messages['zh-TW'] as Record<string, string>;
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    const params = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort();
    for (const k of Object.keys(en)) {
      expect(en[k], k).not.toBe('');
      expect(zh[k], k).not.toBe('');
      expect(params(zh[k]), k).toEqual(params(en[k]));
    }
  });
});
