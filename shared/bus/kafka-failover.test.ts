import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coordinated, coordinatorElsewhere, coordinatorFault, offsetsPartitionOf, partitionsMissing, sequenceLost, type ClusterView } from './kafka-failover.js';

const named = (name: string, fields: Record<string, unknown> = {}): Error => Object.assign(new Error(name), { name, ...fields });

test('offsetsPartitionOf is Kafka\'s abs(String.hashCode) % partitions', () => {
  // Java: "hello".hashCode() == 99162322; "polygenelubricants".hashCode() == Integer.MIN_VALUE (abs keeps it via & 0x7fffffff: 0).
  assert.equal(offsetsPartitionOf('hello', 50), 99162322 % 50);
  assert.equal(offsetsPartitionOf('polygenelubricants', 50), 0);
  assert.equal(offsetsPartitionOf('', 50), 0);
});

test('partitionsMissing names the partitions records went to without an answer (or with an error)', () => {
  assert.deepEqual(partitionsMissing([0, 1, 2, 1], [{ partition: 0, errorCode: 0 }, { partition: 2, errorCode: 0 }]), [1]);
  assert.deepEqual(partitionsMissing([2, 0], [{ partition: 0 }, { partition: 2, errorCode: 6 }]), [2]);
  assert.deepEqual(partitionsMissing([0, 1], [{ partition: 1 }, { partition: 0 }]), []);
});

test('coordinatorFault tells a moved coordinator, an unreachable one (with its address, through causes) and the rest', () => {
  assert.deepEqual(coordinatorFault(named('KafkaJSProtocolError', { type: 'NOT_COORDINATOR_FOR_GROUP' })), { kind: 'moved' });
  assert.deepEqual(coordinatorFault(named('KafkaJSBrokerNotFound')), { kind: 'moved' });
  const refused = named('KafkaJSConnectionError', { broker: '127.0.0.1:19600' });
  assert.deepEqual(coordinatorFault(named('KafkaJSNonRetriableError', { cause: refused })), { kind: 'unreachable', broker: '127.0.0.1:19600' });
  assert.deepEqual(coordinatorFault(named('KafkaJSProtocolError', { type: 'REBALANCE_IN_PROGRESS' })), { kind: 'other' });
});

test('coordinated: a moved coordinator becomes a rejoin (kafkajs\'s NOT_COORDINATOR_FOR_GROUP), without retrying', async () => {
  let calls = 0;
  const err = await coordinated(() => {
    calls++;
    return Promise.reject(named('KafkaJSProtocolError', { type: 'NOT_COORDINATOR_FOR_GROUP' }));
  }, { groupId: 'g', running: () => true, elsewhere: () => Promise.resolve(false) }).catch((e: unknown) => e as Error & { type?: string });
  assert.equal(calls, 1);
  assert.equal(err?.type, 'NOT_COORDINATOR_FOR_GROUP');
  assert.match(String(err?.message), /^g: the group coordinator moved/);
});

test('coordinated: an unreachable coordinator is retried while the cluster names no other, and rejoined once it does', async () => {
  const asked: Array<string | undefined> = [];
  let calls = 0;
  // Unreachable twice while nobody else answers (the only broker down), then the commit goes through.
  await coordinated(() => (++calls <= 2 ? Promise.reject(named('KafkaJSConnectionError', { broker: 'b1:1' })) : Promise.resolve()), {
    groupId: 'g', running: () => true, elsewhere: (b) => (asked.push(b), Promise.resolve(false)),
  });
  assert.equal(calls, 3);
  assert.deepEqual(asked, ['b1:1', 'b1:1']);
  // The cluster names another coordinator: rejoin at once.
  const err = await coordinated(() => Promise.reject(named('KafkaJSConnectionError', { broker: 'b1:1' })), {
    groupId: 'g', running: () => true, elsewhere: () => Promise.resolve(true),
  }).catch((e: unknown) => e as Error & { type?: string });
  assert.equal(err?.type, 'NOT_COORDINATOR_FOR_GROUP');
});

test('coordinated: a rebalance, a stopped consumer or retry: false hand the error back as it is', async () => {
  const rebalance = named('KafkaJSProtocolError', { type: 'REBALANCE_IN_PROGRESS', retriable: true });
  const opts = { groupId: 'g', running: () => true, elsewhere: () => Promise.resolve(false) };
  assert.equal(await coordinated(() => Promise.reject(rebalance), opts).catch((e: unknown) => e), rebalance);
  const refused = named('KafkaJSConnectionError', { broker: 'b1:1' });
  assert.equal(await coordinated(() => Promise.reject(refused), { ...opts, running: () => false }).catch((e: unknown) => e), refused);
  assert.equal(await coordinated(() => Promise.reject(refused), { ...opts, retry: false }).catch((e: unknown) => e), refused);
});

test('sequenceLost: the idempotent producer\'s numbers out of step (also as a cause), nothing else', () => {
  assert.equal(sequenceLost(named('KafkaJSProtocolError', { type: 'OUT_OF_ORDER_SEQUENCE_NUMBER' })), true);
  assert.equal(sequenceLost(named('KafkaJSNonRetriableError', { cause: named('KafkaJSProtocolError', { type: 'UNKNOWN_PRODUCER_ID' }) })), true);
  assert.equal(sequenceLost(named('KafkaJSProtocolError', { type: 'MESSAGE_TOO_LARGE' })), false);
});

test('coordinatorElsewhere: the leader of the group\'s __consumer_offsets partition, compared by address; false when the cluster cannot tell', async () => {
  const group = 'hello'; // partition 99162322 % 50 = 22
  const view = (leader: number, live = [2, 9]): ClusterView => ({
    fetchTopicMetadata: () => Promise.resolve({ topics: [{ partitions: Array.from({ length: 50 }, (_, i) => ({ partitionId: i, leader: i === 22 ? leader : 9 })) }] }),
    describeCluster: () => Promise.resolve({ brokers: live.map((nodeId) => ({ nodeId, host: '127.0.0.1', port: 19600 + nodeId })) }),
  });
  // Node 1 (port 19601) left the cluster; node 2 leads the group's partition now.
  assert.equal(await coordinatorElsewhere(() => Promise.resolve(view(2)), group, '127.0.0.1:19601'), true);
  // Node 1 still counted (not fenced yet), or still the leader: not moved (yet).
  assert.equal(await coordinatorElsewhere(() => Promise.resolve(view(2, [1, 2, 9])), group, '127.0.0.1:19601'), false);
  assert.equal(await coordinatorElsewhere(() => Promise.resolve(view(1, [1, 2, 9])), group, '127.0.0.1:19601'), false);
  // The leader not (yet) among the brokers, no address to compare, or no broker answering: cannot tell.
  assert.equal(await coordinatorElsewhere(() => Promise.resolve(view(7)), group, '127.0.0.1:19601'), false);
  assert.equal(await coordinatorElsewhere(() => Promise.resolve(view(2)), group, undefined), false);
  assert.equal(await coordinatorElsewhere(() => Promise.reject(new Error('ECONNREFUSED')), group, '127.0.0.1:19601'), false);
});
