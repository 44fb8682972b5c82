import { test } from 'node:test';
import assert from 'node:assert/strict';
import { def, defineErrors, errorCodesMarkdown, LogwardenError } from './errors.js';

const T = defineErrors('demo', {
  LW_DEMO_DOWN: def('LW_DEMO_DOWN', 'the <thing> is down | retry', { status: 503, retryable: true }),
  LW_DEMO_REFUSED: def('LW_DEMO_REFUSED', 'refused'),
});

test('a coded error takes its code, message and retryable from its def', () => {
  const cause = new Error('socket hang up');
  const e = new LogwardenError(T.LW_DEMO_DOWN, undefined, { field: 'a.b', cause });
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'LogwardenError');
  assert.equal(e.code, 'LW_DEMO_DOWN');
  assert.equal(e.message, 'the <thing> is down | retry');
  assert.equal(e.retryable, true);
  assert.equal(e.field, 'a.b');
  assert.equal(e.cause, cause);
  const r = new LogwardenError(T.LW_DEMO_REFUSED, 'no: x');
  assert.equal(r.message, 'no: x');
  assert.equal(r.retryable, false);
  assert.equal(r.field, undefined);
  assert.equal('cause' in r, false);
  assert.equal(new LogwardenError(T.LW_DEMO_REFUSED, 'x', { retryable: true }).retryable, true);
});

test('a table is frozen and stamps its area', () => {
  assert.equal(T.LW_DEMO_DOWN.area, 'demo');
  assert.ok(Object.isFrozen(T) && Object.isFrozen(T.LW_DEMO_DOWN));
});

test('subclasses keep their own name', () => {
  class DemoError extends LogwardenError {}
  assert.equal(new DemoError(T.LW_DEMO_REFUSED).name, 'DemoError');
});

test('the markdown table escapes what markdown would eat', () => {
  const md = errorCodesMarkdown([T]);
  assert.match(md, /\| `LW_DEMO_DOWN` \| demo \| 503 \| yes \| the &lt;thing&gt; is down \\\| retry \|/);
  assert.match(md, /\| `LW_DEMO_REFUSED` \| demo \| {2}\| no \| refused \|/);
});
