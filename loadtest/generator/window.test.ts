import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_THRESHOLDS, SlidingWindowCounter, detectorPeak, pathOf, peaksOf } from './window.js';
import { Budget, PlanBuilder, budgetFrom, planReq } from './plan.js';

const at = (ts: number, uri = '/', status = 200): { ts: number; uri: string; status: number } => ({ ts, uri, status });

test('peaks count what one 2-minute window holds, both ends included', () => {
  // 100 requests one second apart: all inside one window.
  assert.equal(peaksOf(Array.from({ length: 100 }, (_, i) => at(i * 1000))).requests, 100);
  // Exactly one window apart: together; a millisecond more: apart.
  assert.equal(peaksOf([at(0), at(120_000)]).requests, 2);
  assert.equal(peaksOf([at(0), at(120_001)]).requests, 1);
  // Hits on a path count only while in the window (the old hit leaves before the new one counts).
  assert.equal(peaksOf([at(0, '/a'), at(120_001, '/a')]).hits_one_path, 1);
  assert.equal(peaksOf([at(0, '/a'), at(60_000, '/a'), at(150_000, '/a')]).hits_one_path, 2);
  // A long, slow stream never piles up.
  assert.equal(peaksOf(Array.from({ length: 1000 }, (_, i) => at(i * 10_000))).requests, 13);
});

test('each signal is counted on its own', () => {
  const reqs = [
    at(0, '/a', 404), at(1, '/b', 404), at(2, '/a?x=1', 404), at(3, '/login', 401), at(4, '/wp-login.php', 403),
    at(5, '/c', 200), at(6, '/a', 200),
  ];
  assert.deepEqual(peaksOf(reqs), { requests: 7, not_found: 3, auth_failures: 2, distinct_paths: 5, hits_one_path: 3 });
  assert.equal(pathOf('/a?x=1'), '/a');
});

test('the counter keeps IPs apart and rejects requests out of time order', () => {
  const c = new SlidingWindowCounter();
  c.add('192.0.2.1', 1000, '/', 200);
  c.add('2001:db8::1', 1000, '/', 404);
  c.add('192.0.2.1', 2000, '/', 200);
  assert.equal(c.peaks('192.0.2.1')?.requests, 2);
  assert.equal(c.peaks('2001:db8::1')?.not_found, 1);
  assert.throws(() => c.add('192.0.2.1', 1500, '/', 200), RangeError);
});

test('rate fires above its threshold; the other detectors at theirs', () => {
  const zero = { requests: 0, not_found: 0, auth_failures: 0, distinct_paths: 0, hits_one_path: 0 };
  const T = DEFAULT_THRESHOLDS;
  assert.equal(detectorPeak('rate', { ...zero, requests: 100 }, T).fires, false);
  assert.equal(detectorPeak('rate', { ...zero, requests: 101 }, T).fires, true);
  assert.equal(detectorPeak('not_found', { ...zero, not_found: 10 }, T).fires, true);
  assert.equal(detectorPeak('auth_failure', { ...zero, auth_failures: 4 }, T).fires, false);
  assert.equal(detectorPeak('unique_paths', { ...zero, distinct_paths: 20 }, T).fires, true);
  assert.equal(detectorPeak('repeated_hits', { ...zero, hits_one_path: 29 }, T).fires, false);
});

test('the benign budget moves a bundle later rather than let a window exceed it', () => {
  const limits = budgetFrom(DEFAULT_THRESHOLDS, 0.6);
  assert.deepEqual(limits, { requests: 60, notFound: 6, authFailures: 3, distinctPaths: 12, hitsPerPath: 18 });
  const b = new PlanBuilder(0, new Budget(limits, 150_000));
  // Ten pages with four new paths each, a second apart: at most 12 distinct paths fit in any window.
  for (let i = 0; i < 10; i++) {
    b.add(i * 1000, [0, 1, 2, 3].map((k) => planReq(k * 10, 'GET', `/p${i}/${k}`, 200, 100, '', false)));
  }
  const p = peaksOf(b.plan, 150_000);
  assert.ok(p.distinct_paths <= 12, `${p.distinct_paths} distinct paths`);
  assert.equal(b.plan.length, 40);
  // So the later pages had to wait for the early ones to leave the window.
  assert.ok((b.plan[b.plan.length - 1]?.ts ?? 0) > 150_000);
  // A bundle that is over the budget by itself is a bug in the caller, not something to wait out.
  const big = new PlanBuilder(0, new Budget(limits, 150_000));
  assert.throws(() => big.add(0, Array.from({ length: 7 }, (_, k) => planReq(k, 'GET', `/x${k}`, 404, 100, '', false))), /exceeds the benign budget/);
});
