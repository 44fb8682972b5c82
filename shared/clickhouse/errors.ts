// Errors of the ClickHouse layer. Callers decide one thing from them: retry
// (the dependency is unavailable for now) or not (ClickHouse, or our own
// checks, rejected the statement or the data, and the same call will fail the
// same way). `isRetryable()` answers it for our errors and for raw ones.
// Among refusals, `rowRefusalReason()` tells the ones caused by the values of
// some rows (the other rows of the insert would be stored) from those of the
// statement itself (unknown table or column: every row fails alike).
//
// Each code is stable and never reused; `code` is low-cardinality so it can
// label a metric.

import { def, defineErrors, LogwardenError } from '../errors.js';

export const CH_ERRORS = defineErrors('clickhouse', {
  LW_CH_UNAVAILABLE: def('LW_CH_UNAVAILABLE', 'ClickHouse is unreachable, timed out, overloaded or read-only: retry later', { retryable: true }),
  LW_CH_REJECTED: def('LW_CH_REJECTED', 'ClickHouse refused the statement or its data (bad SQL, unknown table, data that does not parse): retrying cannot help'),
  LW_CH_CHDB_MISSING: def('LW_CH_CHDB_MISSING', 'embedded mode needs the optional chdb package (version 3.4 or later)'),
  LW_CH_EMBEDDED_DIR_BUSY: def('LW_CH_EMBEDDED_DIR_BUSY', 'embedded mode: this process already has another data directory open'),
  LW_CH_CLOSED: def('LW_CH_CLOSED', 'the ClickHouse connection was used after close()'),
  LW_CH_BAD_CONFIG: def('LW_CH_BAD_CONFIG', 'invalid ClickHouse options (database or cluster name, retention, ...)'),
  LW_CH_MIGRATION_CHANGED: def('LW_CH_MIGRATION_CHANGED', 'an applied migration file was edited afterwards'),
  LW_CH_MIGRATION_INVALID: def('LW_CH_MIGRATION_INVALID', 'migration files are malformed (names, numbering, template variables, quoting)'),
  LW_CH_MIGRATION_LOCKED: def('LW_CH_MIGRATION_LOCKED', 'the migration lock stayed held by a live process for too long'),
  LW_CH_QUERY_INPUT: def('LW_CH_QUERY_INPUT', 'a query input the reads cannot use (bad cursor, limit or range out of bounds)'),
});

export type ClickHouseErrorCode = keyof typeof CH_ERRORS;

export class ClickHouseLayerError extends LogwardenError {
  declare readonly code: ClickHouseErrorCode;
  /** The numeric ClickHouse error code when ClickHouse produced the error. */
  readonly clickhouseCode: number | undefined;

  constructor(
    code: ClickHouseErrorCode,
    message: string,
    opts: { retryable?: boolean; clickhouseCode?: number; cause?: unknown } = {},
  ) {
    super(CH_ERRORS[code], message, opts);
    this.clickhouseCode = opts.clickhouseCode;
  }
}

/** The dependency is unavailable; the same call may succeed later. */
export class ClickHouseUnavailableError extends ClickHouseLayerError {
  constructor(message: string, opts: { clickhouseCode?: number; cause?: unknown } = {}) {
    super('LW_CH_UNAVAILABLE', message, { ...opts, retryable: true });
  }
}

/** ClickHouse refused the statement or its data; retrying cannot help. */
export class ClickHouseRejectedError extends ClickHouseLayerError {
  constructor(message: string, opts: { clickhouseCode?: number; cause?: unknown } = {}) {
    super('LW_CH_REJECTED', message, { ...opts, retryable: false });
  }
}

// ClickHouse error codes (src/Common/ErrorCodes.cpp) that describe the state
// of the server or the network rather than the statement.
const TRANSIENT_CLICKHOUSE_CODES: ReadonlySet<number> = new Set([
  159, // TIMEOUT_EXCEEDED
  164, // READONLY (a replica in read-only mode while Keeper is away)
  198, // DNS_ERROR
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  225, // NO_ZOOKEEPER
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  279, // ALL_CONNECTION_TRIES_FAILED
  285, // TOO_FEW_LIVE_REPLICAS
  286, // UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
  319, // UNKNOWN_STATUS_OF_INSERT
  394, // QUERY_WAS_CANCELLED (server shutting down)
  425, // SYSTEM_ERROR
  439, // CANNOT_SCHEDULE_TASK
  473, // DEADLOCK_AVOIDED
  999, // KEEPER_EXCEPTION
  1000, // POCO_EXCEPTION
]);

// Node socket errors: the server is not there or went away mid-request.
const TRANSIENT_SYSCALL_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);

// What the HTTP client says when it gives up waiting, or when a proxy in
// front of ClickHouse answers instead of it.
const TRANSIENT_MESSAGE = /timeout error|socket hang up|bad gateway|service unavailable|gateway time-?out/i;

/** The ClickHouse numeric code of an error from @clickhouse/client or chdb, if it has one. */
export function clickhouseCodeOf(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  if (err instanceof ClickHouseLayerError) return err.clickhouseCode;
  // Duck-typed on purpose: @clickhouse/client and chdb each bundle their own
  // copy of ClickHouseError, so `instanceof` would miss one of them.
  const { code, type } = err as { code?: unknown; type?: unknown };
  if (typeof code === 'string' && /^\d+$/.test(code) && typeof type === 'string') return Number(code);
  const m = /Code: (\d+)\. DB::Exception/.exec(err.message);
  return m ? Number(m[1]) : undefined;
}

function isTransient(err: unknown): boolean {
  const chCode = clickhouseCodeOf(err);
  if (chCode !== undefined) return TRANSIENT_CLICKHOUSE_CODES.has(chCode);
  if (!(err instanceof Error)) return false;
  const sysCode = (err as { code?: unknown }).code;
  if (typeof sysCode === 'string' && TRANSIENT_SYSCALL_CODES.has(sysCode)) return true;
  if (TRANSIENT_MESSAGE.test(err.message)) return true;
  return err.cause !== undefined && err.cause !== err && isTransient(err.cause);
}

/**
 * Wrap any error thrown while talking to ClickHouse into one of the two
 * typed kinds. Our own typed errors pass through unchanged.
 */
export function classifyError(err: unknown, what: string): ClickHouseLayerError {
  if (err instanceof ClickHouseLayerError) return err;
  const clickhouseCode = clickhouseCodeOf(err);
  const detail = err instanceof Error ? err.message : String(err);
  const message = `${what}: ${detail}`;
  return isTransient(err)
    ? new ClickHouseUnavailableError(message, { clickhouseCode, cause: err })
    : new ClickHouseRejectedError(message, { clickhouseCode, cause: err });
}

/**
 * True when the failed call may succeed if made again later (the
 * "dependency unavailable" kind). Accepts raw errors from the client too.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ClickHouseLayerError) return err.retryable;
  return isTransient(err);
}

// ClickHouse error codes (src/Common/ErrorCodes.cpp) raised by the values of
// the rows an insert carries, mapped to the reason a dead-lettered row is
// counted under (a metric label: keep the set small). Every other refusal is
// about the statement or the table, which no row of it can pass.
const ROW_REFUSAL_REASONS: ReadonlyMap<number, string> = new Map([
  [6, 'cannot_parse'], // CANNOT_PARSE_TEXT
  [26, 'cannot_parse'], // CANNOT_PARSE_QUOTED_STRING
  [27, 'cannot_parse'], // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  [38, 'cannot_parse'], // CANNOT_PARSE_DATE
  [41, 'cannot_parse'], // CANNOT_PARSE_DATETIME
  [72, 'cannot_parse'], // CANNOT_PARSE_NUMBER
  [376, 'cannot_parse'], // CANNOT_PARSE_UUID
  [441, 'cannot_parse'], // CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING
  [467, 'cannot_parse'], // CANNOT_PARSE_BOOL
  [675, 'cannot_parse'], // CANNOT_PARSE_IPV4
  [676, 'cannot_parse'], // CANNOT_PARSE_IPV6
  [53, 'bad_value'], // TYPE_MISMATCH
  [69, 'bad_value'], // ARGUMENT_OUT_OF_BOUND
  [70, 'bad_value'], // CANNOT_CONVERT_TYPE
  [117, 'bad_value'], // INCORRECT_DATA
  [131, 'bad_value'], // TOO_LARGE_STRING_SIZE
  [190, 'bad_value'], // SIZES_OF_ARRAYS_DONT_MATCH
  [321, 'bad_value'], // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  [349, 'bad_value'], // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
  [691, 'bad_value'], // UNKNOWN_ELEMENT_OF_ENUM
  [469, 'violated_constraint'], // VIOLATED_CONSTRAINT (a CHECK on the table)
]);

/**
 * When ClickHouse refused an insert because of the values of some of its
 * rows (a value that does not parse as its column's type, a CHECK that
 * fails), the reason to count them under; undefined for anything else (the
 * dependency unavailable, or a statement that no row can pass).
 */
export function rowRefusalReason(err: unknown): string | undefined {
  if (isRetryable(err)) return undefined;
  const code = clickhouseCodeOf(err);
  return code === undefined ? undefined : ROW_REFUSAL_REASONS.get(code);
}
