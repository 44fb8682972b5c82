// The Kafka bus's optional producer on librdkafka (`@confluentinc/kafka-javascript`,
// its native API), chosen by `kafka.producer_client: librdkafka`; kafkajs stays the
// default and every consumer. The package is not a dependency (a plain `npm install`
// must not need it: infra/kafka/install-librdkafka.sh builds it); asked for and not
// installed, the first publish fails with LW_BUS_CLIENT_UNAVAILABLE, naming the script.
//
// Why: kafkajs encodes each record in JavaScript (an Encoder and a Buffer per record,
// the batch copied at each level, CRC-32C byte by byte, grouping by partition in
// quadratic time): 13-16 CPU µs a record, half an ingested line's cost. librdkafka does
// it in C on its own threads (6.5 µs in the same run; loadtest/bus-clients.bench.ts).
//
// The same guarantees as the kafkajs producer: a publish resolves only once the broker
// acknowledged every record (acks all: idempotent, so retries neither duplicate nor
// reorder a partition's records); keyed records land on murmur2's partition (Kafka's
// Java client's, as shared/bus/murmur2.ts); a record the broker or the client refuses
// (over the size limit) fails the publish with BusRefusedError and its reason; records
// not delivered within `deliveryTimeoutMs` (the broker away) fail it with
// BusUnavailableError, and the ingester holds them and publishes again.
import { LogwardenError } from '../errors.js';
import { componentLogger } from '../log.js';
import type { Compression } from './codecs.js';
import { BUS_ERRORS, BusRefusedError, BusUnavailableError } from './errors.js';
import type { OutgoingMessage } from './types.js';

const log = componentLogger('bus.rdkafka');
const PACKAGE = '@confluentinc/kafka-javascript';
/** librdkafka's own codes (lib/error.js of the package) the producer tells apart. */
const ERR = { QUEUE_FULL: -184, MSG_SIZE_TOO_LARGE_LOCAL: -186, MSG_SIZE_TOO_LARGE: 10 } as const;

export interface RdkafkaProducerOptions {
  brokers: string[];
  clientId: string;
  acks: 'all' | 1 | 0;
  compression: Compression;
  ssl?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** How long librdkafka keeps retrying a record (the broker away) before the publish fails as unavailable. */
  deliveryTimeoutMs?: number;
}

/** What librdkafka reports for a failed record (a LibrdKafkaError). */
interface RdError {
  message: string;
  code: number;
  isFatal?: boolean;
  isRetriable?: boolean;
}

/** The package's native producer, as far as this file uses it (the package has no types here: it is not installed by default). */
interface NativeProducer {
  connect(opts: { timeout: number }, cb: (err: RdError | null) => void): void;
  disconnect(cb: () => void): void;
  setPollInterval(ms: number): void;
  on(event: 'delivery-report', cb: (err: RdError | null, report: { opaque: Slot }) => void): void;
  on(event: 'event.error', cb: (err: RdError) => void): void;
  produce(topic: string, partition: null, value: Buffer, key: string | Buffer | null | undefined, timestamp: number, opaque: Slot, headers?: Array<Record<string, string | Buffer>>): void;
}

/** One publish: its records not yet reported, the first failure among them, and which failed. */
interface Ticket {
  left: number;
  err: RdError | undefined;
  /** Positions of the records reported failed. */
  failed: Set<number>;
  done: (err: RdError | undefined) => void;
}

/** A record's place in its publish, handed back in its delivery report. */
interface Slot {
  ticket: Ticket;
  index: number;
}

async function loadPackage(): Promise<{ Producer: new (conf: Record<string, unknown>) => NativeProducer }> {
  const name: string = PACKAGE;
  try {
    const mod = (await import(name)) as { default?: unknown; Producer?: unknown };
    return (mod.Producer ? mod : mod.default) as { Producer: new (conf: Record<string, unknown>) => NativeProducer };
  } catch (err) {
    const why = (err as Error).message.split('\n')[0] ?? '';
    throw new LogwardenError(BUS_ERRORS.LW_BUS_CLIENT_UNAVAILABLE, `kafka.producer_client librdkafka: ${PACKAGE} does not load (${why}); install it with infra/kafka/install-librdkafka.sh, or use kafkajs`);
  }
}

/** Whether the opt-in package loads here (benches and tests that measure or test the librdkafka producer beside kafkajs). */
export async function rdkafkaInstalled(): Promise<boolean> {
  return loadPackage().then(
    () => true,
    () => false,
  );
}

function headersOf(h: OutgoingMessage['headers']): Array<Record<string, string | Buffer>> | undefined {
  if (!h) return undefined;
  const out: Array<Record<string, string | Buffer>> = [];
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    const all: Array<string | Buffer> = Array.isArray(v) ? v : [v];
    for (const one of all) out.push({ [k]: one });
  }
  return out;
}

/** A failed record's error as the bus's: refused (final, with kafkajs's reason names) or unavailable (retry). */
function busError(err: RdError, topic: string, stored: ReadonlySet<number>): Error {
  const what = `publishing to ${topic}: ${err.message}`;
  if (err.code === ERR.MSG_SIZE_TOO_LARGE || err.code === ERR.MSG_SIZE_TOO_LARGE_LOCAL) return new BusRefusedError(what, 'message_too_large', { cause: err, stored });
  if (err.code === ERR.QUEUE_FULL || err.code < 0 || err.isRetriable === true) return new BusUnavailableError(what, { cause: err, stored });
  return new BusRefusedError(what, err.message.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 40) || 'refused', { cause: err, stored });
}

export class RdkafkaProducer {
  private producer: Promise<NativeProducer> | undefined;

  constructor(private readonly opts: RdkafkaProducerOptions) {}

  private conf(): Record<string, unknown> {
    const o = this.opts;
    return {
      'metadata.broker.list': o.brokers.join(','),
      'client.id': o.clientId,
      acks: o.acks === 'all' ? -1 : o.acks,
      'enable.idempotence': o.acks === 'all',
      'compression.codec': o.compression,
      // The ingester batches already (kafka.linger before a send); this only gathers one send's records.
      'linger.ms': 5,
      // murmur2 of the key, as Kafka's Java client and the kafkajs bus place keyed records.
      partitioner: 'murmur2_random',
      'message.timeout.ms': o.deliveryTimeoutMs ?? 30_000,
      dr_cb: true,
      log_level: 3,
      ...(o.ssl ? { 'security.protocol': o.sasl ? 'sasl_ssl' : 'ssl' } : o.sasl ? { 'security.protocol': 'sasl_plaintext' } : {}),
      ...(o.sasl ? { 'sasl.mechanisms': o.sasl.mechanism.toUpperCase(), 'sasl.username': o.sasl.username, 'sasl.password': o.sasl.password } : {}),
    };
  }

  private connect(): Promise<NativeProducer> {
    this.producer ??= (async () => {
      const { Producer } = await loadPackage();
      const p = new Producer(this.conf());
      p.on('delivery-report', (err, report) => {
        const t = report.opaque.ticket;
        if (err) {
          t.err ??= err;
          t.failed.add(report.opaque.index);
        }
        if (--t.left === 0) t.done(t.err);
      });
      p.on('event.error', (err) => log.warn({ err: err.message, code: err.code }, 'librdkafka'));
      await new Promise<void>((resolve, reject) => p.connect({ timeout: 10_000 }, (err) => (err ? reject(new BusUnavailableError(`connecting the librdkafka producer: ${err.message}`, { cause: err })) : resolve())));
      // Delivery reports are read every 5 ms (a report's wait, not a record's: records go out on librdkafka's threads).
      p.setPollInterval(5);
      return p;
    })();
    const p = this.producer;
    p.catch(() => {
      if (this.producer === p) this.producer = undefined;
    });
    return p;
  }

  async publish(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const producer = await this.connect();
    let queued = messages.length;
    const ticket: Ticket = { left: messages.length, err: undefined, failed: new Set(), done: () => undefined };
    const now = Date.now();
    const failure = await new Promise<RdError | undefined>((resolve) => {
      ticket.done = resolve;
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i] as OutgoingMessage;
        try {
          producer.produce(topic, null, m.value, m.key, Math.min(m.timestamp ?? now, now), { ticket, index: i }, headersOf(m.headers));
        } catch (err) {
          // Refused before it was queued (over message.max.bytes, the queue full): the rest is not queued; those queued are waited for.
          queued = i;
          ticket.err ??= err as RdError;
          ticket.left -= messages.length - i;
          if (ticket.left === 0) resolve(ticket.err);
          return;
        }
      }
    });
    if (failure === undefined) return;
    if (failure.isFatal === true) {
      // An idempotent producer's fatal error (its sequence lost): a new producer (id) starts again.
      log.warn({ err: failure.message }, 'librdkafka producer failed fatally; a new one takes over');
      void this.close();
      throw new BusUnavailableError(`publishing to ${topic}: ${failure.message}`, { cause: failure });
    }
    // librdkafka sends a publish as several record batches: some may be stored while one is refused.
    const stored = new Set<number>();
    for (let i = 0; i < queued; i++) if (!ticket.failed.has(i)) stored.add(i);
    throw busError(failure, topic, stored);
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    const producer = await p?.catch(() => undefined);
    if (producer) await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
  }
}
