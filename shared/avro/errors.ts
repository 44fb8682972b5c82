// The one error type of the Avro codec. Callers branch on `code` (a consumer
// dead-letters `invalid_record`, alerts on `unknown_schema_id`), never on the
// message, so codes are stable: a retired code is never reused for another
// meaning.

export const CODEC_ERROR_CODES = [
  /** Byte 0 is not the Confluent magic byte 0: not our framing at all. */
  'bad_magic',
  /** The 4-byte schema id is in no schema table we know. */
  'unknown_schema_id',
  /** The schema id is known but belongs to another subject or cannot be resolved into the reader schema. */
  'incompatible_schema',
  /** The buffer ends before the header or the record does. */
  'truncated',
  /** Encode: the value does not match the schema. Decode: the body is not a valid record of its writer schema. */
  'invalid_record',
] as const;

export type CodecErrorCode = (typeof CODEC_ERROR_CODES)[number];

export class CodecError extends Error {
  override readonly name = 'CodecError';
  readonly code: CodecErrorCode;
  /** Subject (record name) the codec handles. */
  readonly subject: string;
  /** Schema id read from the header, when the header was readable. */
  readonly schemaId: number | undefined;
  /** invalid_record on encode: dotted path of the first offending field ("status", "extra.k"). */
  readonly field: string | undefined;

  constructor(
    code: CodecErrorCode,
    subject: string,
    message: string,
    extra: { schemaId?: number; field?: string; cause?: unknown } = {},
  ) {
    super(`${subject}: ${message}`, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.code = code;
    this.subject = subject;
    this.schemaId = extra.schemaId;
    this.field = extra.field;
  }
}
