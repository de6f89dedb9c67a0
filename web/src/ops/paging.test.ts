import { describe, expect, it } from 'vitest';
import { appendPage, opsPageSize, pageQuery, readPages, type CursorPage } from './admin';

// A list of n items served in pages of size by cursor, as the API does (the cursor is the
// index of the next item, opaque to the page).
function served(n: number, size: number) {
  const calls: string[] = [];
  const read = async (cursor: string): Promise<CursorPage<number>> => {
    calls.push(cursor);
    const from = cursor ? Number(cursor) : 0;
    const items = Array.from({ length: Math.max(0, Math.min(size, n - from)) }, (_, i) => from + i);
    return from + size < n ? { items, next_cursor: String(from + size) } : { items };
  };
  return { read, calls };
}

describe('cursor pages ("show more")', () => {
  it('asks for a page size and the cursor only when going on, keeping the filters', () => {
    expect(pageQuery({ status: 'unpaid', wallet_id: undefined })).toEqual({ status: 'unpaid', wallet_id: undefined, page_size: opsPageSize });
    expect(pageQuery({ source: 's' }, 'abc', 20)).toEqual({ source: 's', page_size: 20, cursor: 'abc' });
  });

  it('shows every item once, in order, after reading page after page', async () => {
    const { read } = served(7, 3);
    let shown = appendPage<number>([], await read(''), true);
    expect(shown).toEqual({ items: [0, 1, 2], next: '3' });
    while (shown.next) shown = appendPage(shown.items, await read(shown.next), false);
    expect(shown).toEqual({ items: [0, 1, 2, 3, 4, 5, 6], next: '' });
  });

  it('starts again with the first page (a new filter, a reload)', () => {
    expect(appendPage([1, 2, 3], { items: [9], next_cursor: 'n' }, true)).toEqual({ items: [9], next: 'n' });
    expect(appendPage([1], {}, false)).toEqual({ items: [1], next: '' });
  });

  it('reads again the pages shown, stopping at the end of the list', async () => {
    const s = served(7, 3);
    expect(await readPages(s.read, 2)).toEqual({ items: [0, 1, 2, 3, 4, 5], next: '6', pages: 2 });
    expect(s.calls).toEqual(['', '3']);
    expect(await readPages(served(7, 3).read, 9)).toEqual({ items: [0, 1, 2, 3, 4, 5, 6], next: '', pages: 3 });
    expect(await readPages(served(0, 3).read, 0)).toEqual({ items: [], next: '', pages: 1 });
  });
});
