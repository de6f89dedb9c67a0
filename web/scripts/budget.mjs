// The JavaScript budget of the people's pages: every script the built app loads (index.html's
// entry and all the chunks under assets/), gzipped, must stay within 200 KB.
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const limit = 200 * 1024;
const dir = new URL('../build/app/assets/', import.meta.url).pathname;
let total = 0;
for (const name of readdirSync(dir)) {
  if (!name.endsWith('.js')) continue;
  const size = gzipSync(readFileSync(join(dir, name)), { level: 9 }).length;
  total += size;
  console.log(`  ${name}: ${(size / 1024).toFixed(1)} KB gzipped`);
}
const verdict = total <= limit ? 'within' : 'OVER';
console.log(`JavaScript: ${(total / 1024).toFixed(1)} KB gzipped, ${verdict} the budget of ${limit / 1024} KB`);
if (total > limit) process.exit(1);
