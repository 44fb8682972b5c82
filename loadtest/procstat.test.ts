import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuMicros, threadCpuMicros } from './procstat.js';

test("a process's CPU by thread adds up to its own total; no librdkafka thread in a process without it", () => {
  // Some work on the main thread so the figures are not all zero.
  let x = 0;
  for (let i = 0; i < 5e7; i++) x = (x + i) | 0;
  const t = threadCpuMicros(process.pid);
  const total = cpuMicros(process.pid); // read just after: at most a few clock ticks later
  assert.equal(t.rdkafka, 0);
  assert.ok(t.main > 0, `main thread ${t.main} µs (${x})`);
  const sum = t.main + t.rdkafka + t.other;
  assert.ok(sum <= total && total - sum <= 50_000, `threads ${sum} µs against the process's ${total} µs`);
});

test('a process that is gone has no threads', () => {
  assert.deepEqual(threadCpuMicros(2 ** 22 + 1), { main: 0, rdkafka: 0, other: 0 });
});
