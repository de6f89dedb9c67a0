import { describe, expect, it } from 'vitest';
import { tokenOf } from './reset';

describe('tokenOf', () => {
  it.each([
    ['?token=AbC-_123', 'AbC-_123'],
    ['?token=AbC%2B%2F%3D', 'AbC+/='],
    ['?token=AbC%0D%0A123', 'AbC123'], // a link wrapped by a mail client
    ['?token=%20AbC%20', 'AbC'],
    ['?token=a%22%3E%3Cscript%3E', 'ascript'],
    ['?other=x', ''],
    ['', ''],
  ])('%s → %s', (q, want) => {
    expect(tokenOf(new URLSearchParams(q))).toBe(want);
  });
});
