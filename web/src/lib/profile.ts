// The profile the Account page edits (PATCH /api/v1/me {"display_name","language"}), and the
// language a signed-in person chose, which the app then speaks.
import type { Lang } from './i18n';
import type { Profile, ProfilePatch } from './people-types';

export function isLang(v: unknown): v is Lang {
  return v === 'zh-TW' || v === 'en';
}

/** profileOf is the form's starting values: the stored profile, the page's language when none is stored. */
export function profileOf(me: Profile | null | undefined, pageLang: Lang): { display_name: string; language: Lang } {
  return { display_name: me?.display_name ?? '', language: isLang(me?.language) ? me.language : pageLang };
}

/** changes is the PATCH body of what the form changed (the name trimmed), or null when nothing did. */
export function changes(before: { display_name: string; language: string }, form: { display_name: string; language: string }): ProfilePatch | null {
  const patch: ProfilePatch = {};
  const name = form.display_name.trim();
  if (name !== before.display_name.trim()) patch.display_name = name;
  if (form.language !== before.language) patch.language = form.language;
  return Object.keys(patch).length ? patch : null;
}
