// publishIsolating's bookkeeping, on a stand-in bus whose refusals and
// outages are scripted (the broker's own refusals: services/ingester/refused.test.ts
// and services/detector/refused.test.ts on the real broker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BusRefusedError, BusUnavailableError } from './errors.js';
import { publishIsolating, refusedDeadLetter } from './refusals.js';
import type { OutgoingMessage } from './types.js';

const msgs = (n: number): OutgoingMessage[] => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: Buffer.from(`v${i}`), headers: { n: String(i) } }));

/** Refuses, whole, any publish holding a record of `bad`, as Kafka refuses a partition's record batch; keeps what it takes. */
function refusingBus(bad: Set<OutgoingMessage>, opts: { downAfter?: number } = {}): { publish: (t: string, m: OutgoingMessage[]) => Promise<void>; taken: OutgoingMessage[] } {
  const taken: OutgoingMessage[] = [];
  let calls = 0;
  return {
    taken,
    publish: (_topic, part) => {
      calls++;
      if (opts.downAfter !== undefined && calls > opts.downAfter) return Promise.reject(new BusUnavailableError('broker away (test)'));
      if (part.some((m) => bad.has(m))) return Promise.reject(new BusRefusedError('too large (test)', 'message_too_large'));
      taken.push(...part);
      return Promise.resolve();
    },
  };
}

test('the records refused are isolated by halves and handed back with the reason; every other one is stored once', async () => {
  const all = msgs(37);
  const bad = new Set([all[3] as OutgoingMessage, all[30] as OutgoingMessage]);
  const bus = refusingBus(bad);
  const stored = new Set<OutgoingMessage>();
  const refused = await publishIsolating(bus, 't', all, stored);
  assert.deepEqual(refused.map((r) => r.message), [all[3], all[30]]);
  assert.ok(refused.every((r) => r.reason === 'message_too_large' && /too large/.test(r.detail)));
  assert.equal(bus.taken.length, 35);
  assert.equal(new Set(bus.taken).size, 35, 'none twice');
  assert.deepEqual(stored, new Set(all.filter((m) => !bad.has(m))));
});

test('what a refusal reports stored is not sent again', async () => {
  const all = msgs(4);
  const taken: OutgoingMessage[] = [];
  const bus = {
    publish: (_t: string, part: OutgoingMessage[]): Promise<void> => {
      if (part.length === 4) {
        taken.push(all[0] as OutgoingMessage, all[1] as OutgoingMessage);
        return Promise.reject(new BusRefusedError('refused (test)', 'message_too_large', { stored: new Set([0, 1]) }));
      }
      if (part.includes(all[2] as OutgoingMessage)) return Promise.reject(new BusRefusedError('refused (test)', 'message_too_large'));
      taken.push(...part);
      return Promise.resolve();
    },
  };
  const refused = await publishIsolating(bus, 't', all, new Set());
  assert.deepEqual(refused.map((r) => r.message), [all[2]]);
  assert.deepEqual(taken, [all[0], all[1], all[3]]);
});

test('the bus going away midway: thrown as it came, with what was stored before it', async () => {
  const all = msgs(8);
  const bus = refusingBus(new Set([all[7] as OutgoingMessage]), { downAfter: 2 });
  const stored = new Set<OutgoingMessage>();
  await assert.rejects(publishIsolating(bus, 't', all, stored), BusUnavailableError);
  // 1st call: refused whole; 2nd: the first half stored; 3rd: the bus is away.
  assert.deepEqual(stored, new Set(all.slice(0, 4)));
  assert.deepEqual(bus.taken, all.slice(0, 4));
});

test('a dead letter keeps the record (its first 8 KiB), its headers and why', () => {
  const big: OutgoingMessage = { key: 'k', value: Buffer.alloc(10_000, 0x61), headers: { source: 'tcp' }, timestamp: 42 };
  const d = refusedDeadLetter('events', { message: big, reason: 'message_too_large', detail: 'x'.repeat(500) });
  assert.equal(d.value.length, 8192);
  assert.deepEqual({ ...d.headers, detail: d.headers?.detail?.length }, { source: 'tcp', reason: 'message_too_large', detail: 200, topic: 'events', truncated_from: '10000' });
  assert.equal(d.timestamp, 42);
  assert.equal(d.key, 'k');
});
