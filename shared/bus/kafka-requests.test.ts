// How a publish is cut into kafkajs sends (kafka-requests.ts); on the broker,
// services/ingester/refused.test.ts floods one partition with long lines, and
// kafka-refused.test.ts refuses one partition of a send.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BusRefusedError, BusUnavailableError } from './errors.js';
import { afterStored, REQUEST_BYTES, requestEnds, SendBudgets, sendBudget, type ConfigView } from './kafka-requests.js';
import type { OutgoingMessage } from './types.js';

const msg = (bytes: number): OutgoingMessage => ({ key: '203.0.113.66', value: Buffer.alloc(bytes) });

test('sends of at most the limit, in order, each with one record at least', () => {
  assert.deepEqual(requestEnds([]), []);
  assert.deepEqual(requestEnds([msg(10)]), [1]);
  // 44 bytes of key and overhead a record here: three of 56 make 300.
  assert.deepEqual(requestEnds([msg(56), msg(56), msg(56), msg(56)], 300), [3, 4]);
  assert.deepEqual(requestEnds([msg(56), msg(56), msg(56), msg(56)], 299), [2, 4]);
  // A record over the limit goes alone, and the records around it are not held back.
  assert.deepEqual(requestEnds([msg(10), msg(1000), msg(10)], 300), [1, 2, 3]);
  // Four thousand lines of a flood, 1.3 kB each: about 5 MB in sends under the limit.
  const flood = Array.from({ length: 4000 }, () => msg(1300));
  const ends = requestEnds(flood);
  assert.equal(ends.at(-1), 4000);
  let start = 0;
  for (const end of ends) {
    const bytes = flood.slice(start, end).reduce((n, m) => n + m.value.length, 0);
    assert.ok(bytes <= REQUEST_BYTES && end > start, `send ${start}..${end}: ${bytes} bytes`);
    start = end;
  }
  assert.equal(ends.length, Math.ceil((4000 * (1300 + 44)) / REQUEST_BYTES));
});

test('a send that fails names the records the sends before it stored', () => {
  const refused = afterStored(new BusRefusedError('too large', 'message_too_large', { cause: 'x' }), 3);
  assert.ok(refused instanceof BusRefusedError);
  assert.deepEqual([refused.reason, [...refused.stored], refused.cause], ['message_too_large', [0, 1, 2], 'x']);
  const away = afterStored(new BusUnavailableError('broker away'), 2);
  assert.ok(away instanceof BusUnavailableError);
  assert.deepEqual([...away.stored], [0, 1]);
  const first = new BusRefusedError('too large', 'message_too_large');
  assert.equal(afterStored(first, 0), first, 'the first send: the error as it is');
});

test("a topic's sends: REQUEST_BYTES under Kafka's default limit, three quarters of a lower one; read once, again after forget", async () => {
  assert.equal(sendBudget(undefined), REQUEST_BYTES);
  assert.equal(sendBudget(10_485_760), REQUEST_BYTES);
  assert.equal(sendBudget(2048), 1536);
  let asked = 0;
  let answer: () => Promise<Awaited<ReturnType<ConfigView['describeConfigs']>>> = () =>
    Promise.resolve({ resources: [{ configEntries: [{ configName: 'max.message.bytes', configValue: '2048' }] }] });
  const admin: ConfigView = {
    describeConfigs: (o) => {
      asked++;
      assert.deepEqual(o.resources, [{ type: 2, name: 't', configNames: ['max.message.bytes'] }]);
      return answer();
    },
  };
  const budgets = new SendBudgets();
  assert.equal(await budgets.of('t', () => Promise.resolve(admin)), 1536);
  assert.equal(await budgets.of('t', () => Promise.resolve(admin)), 1536);
  assert.equal(asked, 1, 'kept');
  budgets.forget('t');
  // Denied (no DescribeConfigs right) or away: Kafka's default this time, asked again the next.
  answer = () => Promise.reject(new Error('TOPIC_AUTHORIZATION_FAILED'));
  assert.equal(await budgets.of('t', () => Promise.resolve(admin)), REQUEST_BYTES);
  assert.equal(await budgets.of('t', () => Promise.resolve(admin)), REQUEST_BYTES);
  assert.equal(asked, 3);
});
