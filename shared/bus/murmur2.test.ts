import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { partitionForKey } from './murmur2.js';

test('partitionForKey agrees with kafkajs’s (Java-compatible) default partitioner', () => {
  const partitioner = kafkajs.Partitioners.DefaultPartitioner();
  for (const n of [1, 3, 4, 12, 64]) {
    const partitionMetadata = Array.from({ length: n }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
    for (let i = 0; i < 500; i++) {
      const key = i % 2 ? `203.0.113.${i % 256}` : `2001:db8::${i.toString(16)}`;
      const expected = partitioner({ topic: 't', partitionMetadata, message: { key, value: null } });
      assert.equal(partitionForKey(key, n), expected, `${key} over ${n}`);
    }
  }
});
