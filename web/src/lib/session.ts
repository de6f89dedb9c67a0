// Who is signed in. The access token stays in the api client's memory; on load the app asks
// for a fresh one with the refresh cookie, so a reload keeps the person signed in.
import { writable } from 'svelte/store';
import { api, type Me } from './api';
import { hub } from './live';
import { forget } from './push';
import { setLang } from './i18n';
import { isLang } from './profile';
import type { Profile } from './people-types';

export const me = writable<Me | null>(null);
export const ready = writable(false);

api.onSignedOut = () => {
  me.set(null);
  hub.close();
};

export async function restore() {
  try {
    if (await api.refresh()) me.set(await api.me());
  } catch {
    me.set(null);
  } finally {
    ready.set(true);
  }
}

export async function signIn(email: string, password: string, captcha?: string) {
  await api.login(email, password, captcha);
  const m = await api.me();
  me.set(m);
  // The language kept in the profile follows the person to a new device (a reload keeps the page's own choice).
  const l = (m as Profile).language;
  if (isLang(l)) setLang(l);
}

export async function signOut() {
  try {
    await forget().catch(() => {}); // best effort: signing out never fails on it
    await api.logout();
  } finally {
    me.set(null);
    hub.close();
  }
}
