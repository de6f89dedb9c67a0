// src/lib/api-types.ts is generated from ../openapi.json (which a Go test keeps equal to the
// node's /api/v1/openapi.json): it must be current.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('api-types.ts is generated from the current openapi.json (else: npm run gen)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dw-api-types-'));
  try {
    const out = join(dir, 'api-types.ts');
    execFileSync('npx', ['openapi-typescript', 'openapi.json', '-o', out], { stdio: 'ignore' });
    expect(readFileSync('src/lib/api-types.ts', 'utf8')).toBe(readFileSync(out, 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);
