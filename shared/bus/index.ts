// Picks the bus from the config: brokers configured → Kafka, none → in-process.
import type { Config } from '../config/load.js';
import { KafkaBus } from './kafka.js';
import { MemoryBus } from './memory.js';
import type { Bus } from './types.js';

export * from './types.js';
export { MemoryBus } from './memory.js';
export { KafkaBus } from './kafka.js';

export function createBus(config: Config): Bus {
  const k = config.kafka;
  if (k.brokers.length === 0) return new MemoryBus({ firstOffset: Date.now() * 1000 });
  return new KafkaBus({
    brokers: k.brokers,
    clientId: k.client_id,
    acks: k.acks,
    compression: k.compression,
    producerClient: k.producer_client,
    replicationFactor: k.replication_factor,
    minInsyncReplicas: k.min_insync_replicas,
    sessionTimeoutMs: k.session_timeout_ms,
    ssl: k.ssl,
    ...(k.sasl_mechanism === 'none'
      ? {}
      : { sasl: { mechanism: k.sasl_mechanism, username: k.sasl_username, password: k.sasl_password } }),
  });
}
