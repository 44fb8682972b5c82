// The error convention, checked over every area's table: each key is its
// code, codes are unique and well formed, every code a product file names is
// declared, and the README's generated table is current.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_TABLES, errorCodesSection, README_BEGIN, README_END } from './error-codes.js';

const root = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));
const CODE = /^LW_[A-Z0-9]+_[A-Z0-9_]+$/;

const all = ERROR_TABLES.flatMap((t) => Object.entries(t));

test('every key equals its code, and codes follow LW_<AREA>_<NAME>', () => {
  for (const [key, d] of all) {
    assert.equal(d.code, key);
    assert.match(d.code, CODE);
    assert.ok(d.message.length > 0, `${d.code} has a meaning`);
    assert.equal(typeof d.retryable, 'boolean', `${d.code} says whether it is retryable`);
    if (d.status !== undefined) assert.ok(d.status >= 400 && d.status < 600, `${d.code}: ${d.status} is an error status`);
  }
});

test('codes are unique across areas, and each area has one prefix', () => {
  const seen = new Map<string, string>();
  for (const [key, d] of all) {
    assert.equal(seen.get(key), undefined, `${key} is declared twice`);
    seen.set(key, d.area);
  }
  for (const table of ERROR_TABLES) {
    const prefixes = new Set(Object.keys(table).map((k) => k.split('_')[1]));
    assert.equal(prefixes.size, 1, `one prefix per area: ${[...prefixes].join(', ')}`);
  }
  const areas = ERROR_TABLES.map((t) => Object.values(t)[0]?.area);
  assert.equal(new Set(areas).size, areas.length, 'one table per area');
});

function productFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'testing' && name !== 'testdata' && name !== 'node_modules') productFiles(p, out);
    } else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.fault.ts')) out.push(p);
  }
  return out;
}

test('every code a product file names is declared in a table', () => {
  const declared = new Set(all.map(([k]) => k));
  const unknown: string[] = [];
  for (const file of [...productFiles(join(root, 'services')), ...productFiles(join(root, 'shared'))]) {
    for (const m of readFileSync(file, 'utf8').matchAll(/['"`](LW_[A-Z0-9]+_[A-Z0-9_]+)['"`]/g)) {
      if (!declared.has(m[1] as string)) unknown.push(`${m[1]} in ${file.slice(root.length)}`);
    }
  }
  assert.deepEqual(unknown, []);
});

test('the README documents every code: its generated section is current', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const from = readme.indexOf(README_BEGIN);
  const to = readme.indexOf(README_END);
  assert.ok(from >= 0 && to > from, 'README.md holds the error-codes markers');
  assert.equal(
    readme.slice(from, to + README_END.length),
    errorCodesSection(),
    'the README error table is stale: run npm run build && node dist/services/error-codes.js --write',
  );
  for (const [key] of all) assert.ok(readme.includes(`| \`${key}\` |`), `README documents ${key}`);
});
