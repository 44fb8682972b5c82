// The errors of the Avro codec and its schema table. Callers branch on
// `code` (a consumer dead-letters LW_AVRO_INVALID_RECORD, alerts on
// LW_AVRO_UNKNOWN_SCHEMA_ID), never on the message; a retired code is never
// reused. A CodecError also carries its `reason`, the low-cardinality name
// ("bad_magic", ...) that dead-letter headers and metric labels hold: those
// are data already written, so they keep their spelling.
import { def, defineErrors, LogwardenError } from '../errors.js';

export const AVRO_ERRORS = defineErrors('avro', {
  LW_AVRO_BAD_MAGIC: def('LW_AVRO_BAD_MAGIC', 'byte 0 is not the Confluent magic byte 0: not our framing at all'),
  LW_AVRO_UNKNOWN_SCHEMA_ID: def('LW_AVRO_UNKNOWN_SCHEMA_ID', 'the 4-byte schema id is in no schema table we know'),
  LW_AVRO_INCOMPATIBLE_SCHEMA: def(
    'LW_AVRO_INCOMPATIBLE_SCHEMA',
    'the schema id is known but belongs to another subject or cannot be resolved into the reader schema',
  ),
  LW_AVRO_TRUNCATED: def('LW_AVRO_TRUNCATED', 'the buffer ends before the header or the record does'),
  LW_AVRO_INVALID_RECORD: def(
    'LW_AVRO_INVALID_RECORD',
    'encode: the value does not match the schema; decode: the body is not a valid record of its writer schema',
  ),
  LW_AVRO_SCHEMAS_NOT_FOUND: def('LW_AVRO_SCHEMAS_NOT_FOUND', 'no schemas/registry.json where we looked; set LOGWARDEN_SCHEMAS_DIR'),
  LW_AVRO_REGISTRY_INVALID: def('LW_AVRO_REGISTRY_INVALID', 'schemas/registry.json or a schema file it names cannot be read or is malformed'),
  LW_AVRO_UNKNOWN_SUBJECT: def('LW_AVRO_UNKNOWN_SUBJECT', 'the schema table has no schema for this subject'),
});

/** The `reason` of each CodecError, and its code. */
const REASON_CODES = {
  bad_magic: 'LW_AVRO_BAD_MAGIC',
  unknown_schema_id: 'LW_AVRO_UNKNOWN_SCHEMA_ID',
  incompatible_schema: 'LW_AVRO_INCOMPATIBLE_SCHEMA',
  truncated: 'LW_AVRO_TRUNCATED',
  invalid_record: 'LW_AVRO_INVALID_RECORD',
} as const satisfies Record<string, keyof typeof AVRO_ERRORS>;

export type CodecErrorReason = keyof typeof REASON_CODES;
export type CodecErrorCode = (typeof REASON_CODES)[CodecErrorReason];

export const CODEC_ERROR_REASONS = Object.keys(REASON_CODES) as CodecErrorReason[];

/**
 * The one error type of the codec (encode and decode). `field`, on
 * invalid_record at encode: dotted path of the first offending field
 * ("status", "extra.k").
 */
export class CodecError extends LogwardenError {
  override readonly name = 'CodecError';
  declare readonly code: CodecErrorCode;
  /** Low-cardinality name of the failure: the dead-letter `reason` and the metric label. */
  readonly reason: CodecErrorReason;
  /** Subject (record name) the codec handles. */
  readonly subject: string;
  /** Schema id read from the header, when the header was readable. */
  readonly schemaId: number | undefined;

  constructor(
    reason: CodecErrorReason,
    subject: string,
    message: string,
    extra: { schemaId?: number; field?: string; cause?: unknown } = {},
  ) {
    super(AVRO_ERRORS[REASON_CODES[reason]], `${subject}: ${message}`, { field: extra.field, cause: extra.cause });
    this.reason = reason;
    this.subject = subject;
    this.schemaId = extra.schemaId;
  }
}
