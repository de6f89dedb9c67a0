import { describe, expect, it } from 'vitest';
import { changes, isLang, profileOf } from './profile';

describe('profile', () => {
  it('starts from the stored profile, else the page’s language', () => {
    expect(profileOf({ display_name: '阿明', language: 'en' }, 'zh-TW')).toEqual({ display_name: '阿明', language: 'en' });
    expect(profileOf({}, 'zh-TW')).toEqual({ display_name: '', language: 'zh-TW' });
    expect(profileOf({ language: 'fr' }, 'en')).toEqual({ display_name: '', language: 'en' });
    expect(profileOf(null, 'en')).toEqual({ display_name: '', language: 'en' });
  });

  it.each([
    [{ display_name: 'A', language: 'en' }, { display_name: 'A', language: 'en' }, null],
    [{ display_name: 'A', language: 'en' }, { display_name: '  A ', language: 'en' }, null],
    [{ display_name: 'A', language: 'en' }, { display_name: 'B ', language: 'en' }, { display_name: 'B' }],
    [{ display_name: 'A', language: 'en' }, { display_name: 'A', language: 'zh-TW' }, { language: 'zh-TW' }],
    [{ display_name: 'A', language: 'en' }, { display_name: '', language: 'zh-TW' }, { display_name: '', language: 'zh-TW' }],
  ])('%j → %j sends %j', (before, form, want) => {
    expect(changes(before, form)).toEqual(want);
  });

  it('knows the app’s two languages', () => {
    expect(isLang('zh-TW')).toBe(true);
    expect(isLang('en')).toBe(true);
    expect(isLang('zh')).toBe(false);
    expect(isLang(undefined)).toBe(false);
  });
});
