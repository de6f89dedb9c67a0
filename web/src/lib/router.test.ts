import { describe, expect, it } from 'vitest';
import { match } from './router';

describe('match', () => {
  it.each([
    ['/jobs/:id', '/jobs/abc', { id: 'abc' }],
    ['/jobs/:id', '/jobs/a%20b', { id: 'a b' }],
    ['/jobs/:id', '/jobs', null],
    ['/jobs/:id', '/jobs/a/b', null],
    ['/draw', '/draw', {}],
    ['/draw', '/wallet', null],
  ])('%s against %s', (pattern, path, want) => {
    expect(match(pattern, path)).toEqual(want);
  });
});
