// The app's two languages. The choice starts from the browser's languages and is kept in
// localStorage once the person picks one.
import { writable, derived, get } from 'svelte/store';
import { messages, type Lang, type MessageKey } from './messages';

export type { Lang, MessageKey };
export const langs: Lang[] = ['zh-TW', 'en'];

/** pickLang chooses zh-TW or en from a list of BCP 47 tags (navigator.languages). */
export function pickLang(tags: readonly string[] | undefined, stored?: string | null): Lang {
  if (stored === 'zh-TW' || stored === 'en') return stored;
  for (const tag of tags ?? []) {
    const t = tag.toLowerCase();
    if (t.startsWith('zh')) return 'zh-TW';
    if (t.startsWith('en')) return 'en';
  }
  return 'zh-TW';
}

/** translate looks a key up in lang's table, falling back to English, and fills {name} slots. */
export function translate(lang: Lang, key: MessageKey | string, params: Record<string, string | number> = {}): string {
  const table = messages[lang] as Record<string, string>;
  const text = table[key] ?? (messages.en as Record<string, string>)[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
}

function storedLang(): string | null {
  try {
    return globalThis.localStorage?.getItem('dw.lang') ?? null;
  } catch {
    return null;
  }
}

export const lang = writable<Lang>(pickLang(globalThis.navigator?.languages, storedLang()));

export function setLang(l: Lang) {
  lang.set(l);
  try {
    globalThis.localStorage?.setItem('dw.lang', l);
  } catch {
    /* private mode: the choice lasts this page */
  }
}

lang.subscribe((l) => {
  if (globalThis.document) globalThis.document.documentElement.lang = l;
});

/** t is the translate function of the current language, for templates: {$t('key')}. */
export const t = derived(lang, (l) => (key: MessageKey | string, params?: Record<string, string | number>) => translate(l, key, params));

export function currentLang(): Lang {
  return get(lang);
}
