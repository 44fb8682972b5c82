// The layering rule, enforced: each layer imports only downward.
//
//   shared/          the library: imports nothing from services/ or loadtest/
//   services/<name>/ one process role: imports shared/ and its own folder; another
//                    service only through that service's entry point (index.ts)
//   services/cli/, services/runtime.ts
//                    the composition: may import any service's modules
//   loadtest/        benchmarks and the traffic generator: may import anything
//
// Product code (everything but tests) imports no test helper (a `testing/`
// folder, services/faults/, a *.test.ts or *.fault.ts file) and nothing from loadtest/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'testdata') continue;
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

interface Edge {
  from: string;
  to: string;
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const top of ['shared', 'services', 'lua']) {
    let files: string[];
    try {
      files = sources(join(root, top));
    } catch {
      continue;
    }
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(IMPORT)) {
        const spec = (m[1] ?? m[2]) as string;
        const to = relative(root, resolve(dirname(file), spec)).split(sep).join('/').replace(/\.js$/, '.ts');
        out.push({ from: relative(root, file).split(sep).join('/'), to });
      }
    }
  }
  return out;
}

const isTest = (f: string): boolean => /\.(test|fault)\.ts$/.test(f);
// services/faults/ holds the fault tests and their helpers: test code as a whole.
const isTestHelper = (f: string): boolean => isTest(f) || /(^|\/)testing\//.test(f) || f.startsWith('services/faults/');
const serviceOf = (f: string): string | undefined => /^services\/([^/]+)\//.exec(f)?.[1];
const isComposition = (f: string): boolean => f === 'services/runtime.ts' || f.startsWith('services/cli/');

/** Every import that breaks the rule, as "from → to: why". */
export function violations(all: readonly Edge[]): string[] {
  const bad: string[] = [];
  for (const { from, to } of all) {
    if (isTestHelper(from)) continue;
    const why = ((): string | undefined => {
      if (to.startsWith('loadtest/')) return 'product code imports loadtest/';
      if (isTestHelper(to)) return 'product code imports a test helper';
      if (from.startsWith('shared/') && (to.startsWith('services/') || to.startsWith('loadtest/'))) return 'shared/ imports from above it';
      const mine = serviceOf(from);
      const theirs = serviceOf(to);
      if (mine && theirs && mine !== theirs && !isComposition(from) && to !== `services/${theirs}/index.ts`) {
        return `services/${mine} reaches into services/${theirs} (import its index.ts, or move the code to shared/)`;
      }
      return undefined;
    })();
    if (why) bad.push(`${from} → ${to}: ${why}`);
  }
  return bad;
}

test('each layer imports only downward; product code imports no test helper and nothing from loadtest/', () => {
  const all = edges();
  assert.ok(all.length > 200, `the scan found the imports (${all.length})`);
  assert.deepEqual(violations(all), []);
});

test('the rule itself catches each kind of violation', () => {
  assert.deepEqual(
    violations([
      { from: 'shared/config/load.ts', to: 'services/ingester/pipeline.ts' },
      { from: 'services/cli/demo.ts', to: 'loadtest/generator/sites.ts' },
      { from: 'services/cli/demo.ts', to: 'shared/testing/nginx.ts' },
      { from: 'services/detector/backtest.ts', to: 'services/ingester/decode.ts' },
      // allowed:
      { from: 'services/detector/backtest.ts', to: 'services/ingester/index.ts' },
      { from: 'services/runtime.ts', to: 'services/sink/table-sink.ts' },
      { from: 'services/api/api.test.ts', to: 'shared/testing/nginx.ts' },
      { from: 'shared/testing/nginx.ts', to: 'loadtest/generator/prng.ts' },
    ]).map((v) => v.split(': ')[1]),
    [
      'shared/ imports from above it',
      'product code imports loadtest/',
      'product code imports a test helper',
      'services/detector reaches into services/ingester (import its index.ts, or move the code to shared/)',
    ],
  );
});

// A file reads in one sitting, a function fits on a screen or two: the bounds the
// project holds its product code to (tests and test data are not product code).
const MAX_FILE_LINES = 500;
const MAX_FUNCTION_LINES = 150;

function productFiles(): string[] {
  const out: string[] = [];
  for (const top of ['shared', 'services', 'lua']) {
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (name === 'testdata' || name === 'test' || name === 'testing') continue;
        if (statSync(p).isDirectory()) walk(p);
        else if ((name.endsWith('.ts') || name.endsWith('.lua')) && !isTest(name)) out.push(relative(root, p).split(sep).join('/'));
      }
    };
    walk(join(root, top));
  }
  return out.filter((f) => !f.startsWith('services/faults/'));
}

test(`no product file is over ${MAX_FILE_LINES} lines, no TypeScript function over ${MAX_FUNCTION_LINES}`, async () => {
  const ts = (await import('typescript')).default;
  const long: string[] = [];
  const files = productFiles();
  assert.ok(files.length > 50, `found the product files (${files.length})`);
  for (const f of files) {
    const text = readFileSync(join(root, f), 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines > MAX_FILE_LINES) long.push(`${f}: ${lines} lines`);
    if (!f.endsWith('.ts')) continue;
    const sf = ts.createSourceFile(f, text, ts.ScriptTarget.Latest, true);
    const visit = (n: import('typescript').Node): void => {
      if (ts.isFunctionLike(n) && 'body' in n && n.body) {
        const a = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
        const b = sf.getLineAndCharacterOfPosition(n.end).line;
        if (b - a + 1 > MAX_FUNCTION_LINES) long.push(`${f}:${a + 1}: a function of ${b - a + 1} lines`);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  assert.deepEqual(long, []);
});
