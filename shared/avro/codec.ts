// Avro codecs for the records on the bus, in the Confluent wire format:
//
//   byte 0      magic byte 0
//   bytes 1..4  schema id, big-endian (from the schema source: schemas/registry.json
//               without a registry)
//   bytes 5..   Avro binary body
//
// Writers always use the current (highest) version of a subject. Readers accept
// any version of the subject and resolve it into the current one, so producers
// and consumers can be upgraded in any order.
//
// Hot path: the ingester encodes and the detector decodes hundreds of
// thousands of records a second. Encode writes header and body into one
// reused scratch buffer and copies out the exact bytes (one allocation per
// record, from Node's buffer pool); it relies on avsc's writers rejecting bad
// values and only walks the value for a detailed error when one has thrown.
// Decode reads straight from the message buffer with compiled readers and
// cached resolvers; SecurityEvent records of the current version (the sink's
// per-row hot path) with a hand-written reader (security-event-reader.ts).
import type { Type } from 'avsc';
import type { AccessRecord, BlockDecision, ControlChange, CrawlerVerdict, Notice, SecurityEvent } from '../records.js';
import { AVRO_ERRORS, CodecError } from './errors.js';
import { LogwardenError } from '../errors.js';
import { localSchemas, parseSchema, type SchemaSource } from './schema-source.js';
import { ACCESS_RECORD_FIELDS, fieldSignature, NOT_HANDLED, writeAccessRecord } from './access-record-writer.js';
import { readSecurityEvent, SECURITY_EVENT_FIELDS } from './security-event-reader.js';

export { AVRO_ERRORS, CodecError, CODEC_ERROR_REASONS, type CodecErrorCode, type CodecErrorReason } from './errors.js';
export {
  LocalSchemaSource,
  localSchemas,
  registryProblems,
  schemasDir,
  type SchemaSource,
  type SchemaVersion,
} from './schema-source.js';

export const MAGIC_BYTE = 0;
/** Magic byte plus the 4-byte schema id. */
export const HEADER_BYTES = 5;

type Resolver = ReturnType<Type['createResolver']>;

/**
 * A hand-written writer of one schema's body at `pos`: the end offset,
 * NOT_HANDLED (avsc writes the value, or says what is wrong with it), or
 * minus the bytes it needs from `pos` when the buffer is too short.
 */
export type BodyWriter = (buf: Buffer, pos: number, value: unknown) => number;

/**
 * A hand-written reader of one schema's body at `pos`, which must end at the
 * buffer's end: the value avsc would read, or undefined (avsc reads it, or
 * says what is wrong with it). Never throws.
 */
export type BodyReader = (buf: Buffer, pos: number) => object | undefined;

// Shared by every codec of the thread: encode is synchronous, so no two
// records are ever being written at once. Grows for an oversized record and
// stays grown (records are small; one outlier costs one larger buffer).
let scratch = Buffer.allocUnsafeSlow(64 * 1024);

function growScratch(minBytes: number, keep: number): void {
  const next = Buffer.allocUnsafeSlow(Math.max(minBytes, scratch.length * 2));
  scratch.copy(next, 0, 0, keep);
  scratch = next;
}

export class RecordCodec<T extends object> {
  readonly subject: string;
  /** Id written in the header of every encoded value: the subject's current version. */
  readonly schemaId: number;
  /** The current schema; reader of every version, writer of new records. */
  readonly type: Type;
  private readonly source: SchemaSource;
  /** Writer id → resolver into `type`, or the error to throw again for an unusable id. */
  private readonly resolvers = new Map<number, Resolver | CodecError>();

  /** Writes the body instead of avsc when set; bytes identical to avsc's (access-record-writer.ts). */
  private readonly bodyWriter: BodyWriter | undefined;
  /** Reads bodies of the current schema instead of avsc when set; values equal to avsc's (security-event-reader.ts). */
  private readonly bodyReader: BodyReader | undefined;

  /**
   * `fast`: a hand-written writer and the field signature it was written for;
   * used only while the subject's current schema has exactly those fields.
   * `fastRead`: the same for a hand-written reader (records of the current schema id only).
   */
  constructor(subject: string, source: SchemaSource = localSchemas(), fast?: { fields: string; write: BodyWriter }, fastRead?: { fields: string; read: BodyReader }) {
    const current = source.latest(subject);
    this.subject = subject;
    this.source = source;
    this.schemaId = current.id;
    this.type = parseSchema(current.schema);
    if (this.type.typeName !== 'record') throw new LogwardenError(AVRO_ERRORS.LW_AVRO_REGISTRY_INVALID, `schema of ${subject} (id ${current.id}) is not a record`);
    decodeToPlainObjects(this.type);
    this.bodyWriter = fast !== undefined && fieldSignature(current.schema) === fast.fields ? fast.write : undefined;
    this.bodyReader = fastRead !== undefined && fieldSignature(current.schema) === fastRead.fields ? fastRead.read : undefined;
  }

  /** Whether encode writes with a hand-written writer (true for AccessRecord while its schema is the one the writer knows). */
  get handWritten(): boolean {
    return this.bodyWriter !== undefined;
  }

  /** Whether decode reads the current schema with a hand-written reader (true for SecurityEvent while its schema is the one the reader knows). */
  get handRead(): boolean {
    return this.bodyReader !== undefined;
  }

  /** Confluent-framed Avro bytes of `value`. Throws CodecError `invalid_record` when it does not match the schema. */
  encode(value: T): Buffer {
    const end = this.write(value, 0);
    const out = Buffer.allocUnsafe(end);
    scratch.copy(out, 0, 0, end);
    return out;
  }

  /**
   * Encodes many values into one allocation; each returned Buffer is a view of
   * it, so the memory is freed when the last of them is. Cheaper than `encode`
   * per value for producer batches; atomic: a bad value throws and nothing is
   * returned.
   */
  encodeBatch(values: readonly T[]): Buffer[] {
    const ends: number[] = [];
    let pos = 0;
    for (const value of values) {
      pos = this.write(value, pos);
      ends.push(pos);
    }
    const block = Buffer.allocUnsafeSlow(pos);
    scratch.copy(block, 0, 0, pos);
    let start = 0;
    return ends.map((end) => {
      const view = block.subarray(start, end);
      start = end;
      return view;
    });
  }

  /**
   * The record in a Confluent-framed Avro value, in the shape of the current
   * schema whatever version wrote it. Throws CodecError: bad_magic,
   * unknown_schema_id, incompatible_schema, truncated, invalid_record.
   */
  decode(buf: Buffer): T {
    const len = buf.length;
    if (len > 0 && buf[0] !== MAGIC_BYTE) {
      throw new CodecError('bad_magic', this.subject, `byte 0 is ${buf[0]}, expected the Confluent magic byte 0`);
    }
    if (len < HEADER_BYTES) {
      throw new CodecError('truncated', this.subject, `${len} bytes, shorter than the ${HEADER_BYTES}-byte header`);
    }
    const id = buf.readUInt32BE(1);
    if (id === this.schemaId && this.bodyReader !== undefined) {
      const value = this.bodyReader(buf, HEADER_BYTES);
      if (value !== undefined) return value as T;
    }
    const resolver = id === this.schemaId ? undefined : this.resolverFor(id);
    let result: { value: unknown; offset: number };
    try {
      result = this.type.decode(buf, HEADER_BYTES, resolver);
    } catch (err) {
      // avsc throws on values no writer produces: an enum index out of range, a long beyond 2^53.
      throw new CodecError('invalid_record', this.subject, `corrupt body: ${(err as Error).message}`, { schemaId: id, cause: err });
    }
    if (result.offset !== len) {
      if (result.offset < 0) {
        throw new CodecError('truncated', this.subject, `body ends early (${len} bytes) for schema id ${id}`, { schemaId: id });
      }
      throw new CodecError('invalid_record', this.subject, `${len - result.offset} bytes left after the record (schema id ${id})`, { schemaId: id });
    }
    return result.value as T;
  }

  /** Writes header and body at `pos` of the scratch buffer; returns the end offset. */
  private write(value: T, pos: number): number {
    for (;;) {
      if (scratch.length - pos < HEADER_BYTES + 1) growScratch(pos + 1024, pos);
      scratch[pos] = MAGIC_BYTE;
      scratch.writeUInt32BE(this.schemaId, pos + 1);
      let end: number;
      if (this.bodyWriter !== undefined) {
        end = this.bodyWriter(scratch, pos + HEADER_BYTES, value);
        if (end > 0) return end;
        if (end !== NOT_HANDLED) {
          growScratch(pos + HEADER_BYTES - end, pos);
          continue;
        }
      }
      try {
        end = this.type.encode(value, scratch, pos + HEADER_BYTES);
      } catch (err) {
        throw this.invalid(value, err);
      }
      if (end > 0) return end;
      // avsc returns minus the bytes that did not fit.
      growScratch(scratch.length - end, pos);
    }
  }

  private resolverFor(id: number): Resolver {
    let r = this.resolvers.get(id);
    if (r === undefined) {
      r = this.createResolver(id);
      this.resolvers.set(id, r);
    }
    if (r instanceof CodecError) throw r;
    return r;
  }

  private createResolver(id: number): Resolver | CodecError {
    const writer = this.source.byId(id);
    if (!writer) return new CodecError('unknown_schema_id', this.subject, `schema id ${id} is unknown`, { schemaId: id });
    if (writer.subject !== this.subject) {
      return new CodecError('incompatible_schema', this.subject, `schema id ${id} is a ${writer.subject}, not a ${this.subject}`, { schemaId: id });
    }
    try {
      return this.type.createResolver(parseSchema(writer.schema));
    } catch (err) {
      return new CodecError('incompatible_schema', this.subject, `cannot read version ${writer.version} (id ${id}): ${(err as Error).message}`, { schemaId: id, cause: err });
    }
  }

  private invalid(value: unknown, cause: unknown): CodecError {
    const bad: { path: string; type: Type; got: unknown }[] = [];
    this.type.isValid(value, {
      errorHook: (path, got, type) => {
        bad.push({ path: path.join('.'), type, got });
      },
    });
    const first = bad[0];
    if (!first) {
      return new CodecError('invalid_record', this.subject, `cannot encode: ${(cause as Error).message}`, { cause });
    }
    if (first.path === '') {
      return new CodecError('invalid_record', this.subject, `expected a record object, got ${describeValue(first.got)}`, { cause });
    }
    const detail = bad.map((b) => `field ${b.path}: expected ${describeType(b.type)}, got ${describeValue(b.got)}`).join('; ');
    return new CodecError('invalid_record', this.subject, `invalid ${detail}`, { field: first.path, cause });
  }
}

/**
 * avsc builds records with a generated constructor; giving it Object.prototype
 * makes decoded records plain objects, indistinguishable from literals
 * (deepStrictEqual, structuredClone, spreading all behave as for `{...}`).
 */
function decodeToPlainObjects(type: Type): void {
  const ctor = (type as unknown as { recordConstructor?: { prototype: object } }).recordConstructor;
  if (ctor) ctor.prototype = Object.prototype;
}

function describeType(type: Type): string {
  const t = type as Type & { types?: Type[]; symbols?: string[]; valuesType?: Type; itemsType?: Type };
  switch (type.typeName) {
    case 'union:unwrapped':
    case 'union:wrapped':
      return (t.types ?? []).map(describeType).join(' or ');
    case 'enum':
      return `one of ${(t.symbols ?? []).join(', ')}`;
    case 'map':
      return t.valuesType ? `map of ${describeType(t.valuesType)}` : 'map';
    case 'array':
      return t.itemsType ? `array of ${describeType(t.itemsType)}` : 'array';
    default:
      return type.typeName;
  }
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'bigint') return `${v}n`;
  let s: string;
  try {
    s = JSON.stringify(v);
  } catch {
    s = Object.prototype.toString.call(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export const accessRecordCodec = new RecordCodec<AccessRecord>('AccessRecord', localSchemas(), { fields: ACCESS_RECORD_FIELDS, write: writeAccessRecord });
export const securityEventCodec = new RecordCodec<SecurityEvent>('SecurityEvent', localSchemas(), undefined, { fields: SECURITY_EVENT_FIELDS, read: readSecurityEvent });
/** BlockDecision as the schema holds it (v2): a feed's source is the symbol `feed` and its name in `feed`. */
type BlockDecisionWire = Omit<BlockDecision, 'source' | 'actor'> & { source: 'auto' | 'manual' | 'filter' | 'feed'; feed: string; actor: string };

/**
 * Code sees a feed's decisions as source `feed:<name>`; the schema keeps an
 * enum (readers of v1 take the unknown symbol as `manual`) and the name in a
 * field of its own. The translation is here only.
 */
class BlockDecisionCodec extends RecordCodec<BlockDecision> {
  override encode(value: BlockDecision): Buffer {
    return super.encode(toWire(value) as unknown as BlockDecision);
  }

  override encodeBatch(values: readonly BlockDecision[]): Buffer[] {
    return super.encodeBatch(values.map((v) => toWire(v) as unknown as BlockDecision));
  }

  override decode(buf: Buffer): BlockDecision {
    const { feed, actor, ...rest } = super.decode(buf) as unknown as BlockDecisionWire;
    const d = (rest.source === 'feed' ? { ...rest, source: `feed:${feed}` } : rest) as BlockDecision;
    // v1 records, and decisions no person made, have none (the field's default).
    return actor ? { ...d, actor } : d;
  }
}

function toWire(d: BlockDecision): BlockDecisionWire {
  const actor = d.actor ?? '';
  if (d.source.startsWith('feed:')) return { ...d, source: 'feed', feed: d.source.slice(5), actor };
  return { ...d, source: d.source as BlockDecisionWire['source'], feed: '', actor };
}

export const blockDecisionCodec: RecordCodec<BlockDecision> = new BlockDecisionCodec('BlockDecision');
export const controlChangeCodec = new RecordCodec<ControlChange>('ControlChange');
export const noticeCodec = new RecordCodec<Notice>('Notice');
export const crawlerVerdictCodec = new RecordCodec<CrawlerVerdict>('CrawlerVerdict');
