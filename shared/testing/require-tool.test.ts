import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireTool } from './require-tool.js';

function withCi<T>(value: string | undefined, f: () => T): T {
  const saved = process.env.CI;
  if (value === undefined) delete process.env.CI;
  else process.env.CI = value;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  }
}

test('a missing tool skips the test, saying what is missing; under CI=true it fails instead', () => {
  assert.equal(withCi(undefined, () => requireTool('frobnicator is not installed', false)), 'frobnicator is not installed');
  assert.equal(withCi('false', () => requireTool('frobnicator is not installed', false)), 'frobnicator is not installed');
  assert.throws(() => withCi('true', () => requireTool('frobnicator is not installed', false)), /CI=true.*frobnicator is not installed/);
  assert.equal(withCi('true', () => requireTool('frobnicator is not installed', true)), false, 'a present tool runs the test, in CI too');
});
