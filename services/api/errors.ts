// Every error the API answers with, built once with a stable code, a status
// and a message template (after fastify's lib/errors.js). Codes are part of
// the API: clients branch on them, so a retired code is never reused.
//
// The body is always JSON: { "error": message, "code": "LW_API_...", "field"?: "body.ip" }.
import { defineErrors, LogwardenError, type ErrorDef } from '../../shared/errors.js';

export interface ApiErrorDef extends ErrorDef {
  readonly status: number;
}

function def(code: string, status: number, message: string, retryable = false): ApiErrorDef {
  return { code, status, message, retryable };
}

export const API_ERRORS = defineErrors('api', {
  LW_API_VALIDATION: def('LW_API_VALIDATION', 400, 'invalid request'),
  LW_API_BAD_JSON: def('LW_API_BAD_JSON', 400, 'the body is not valid JSON'),
  LW_API_UNSUPPORTED_MEDIA: def('LW_API_UNSUPPORTED_MEDIA', 415, 'send the body as application/json'),
  LW_API_BODY_TOO_LARGE: def('LW_API_BODY_TOO_LARGE', 413, 'the body is larger than api.body_limit_bytes'),
  LW_API_UNAUTHORIZED: def('LW_API_UNAUTHORIZED', 401, 'missing or invalid token: send Authorization: Bearer <token>'),
  LW_API_FORBIDDEN: def('LW_API_FORBIDDEN', 403, 'this token\'s role may not do this'),
  LW_API_TOO_MANY_AUTH_FAILURES: def('LW_API_TOO_MANY_AUTH_FAILURES', 429, 'too many failed logins from this address; retry later', true),
  LW_API_NOT_FOUND: def('LW_API_NOT_FOUND', 404, 'not found'),
  LW_API_ROUTE_NOT_FOUND: def('LW_API_ROUTE_NOT_FOUND', 404, 'no such route'),
  LW_API_METHOD_NOT_ALLOWED: def('LW_API_METHOD_NOT_ALLOWED', 405, 'method not allowed on this route'),
  LW_API_WHITELISTED: def('LW_API_WHITELISTED', 409, 'the address is whitelisted; send "force": true to block it anyway'),
  LW_API_SELF_BLOCK: def('LW_API_SELF_BLOCK', 409, 'this would block the address this request comes from; send "force": true to do it anyway'),
  LW_API_CAPTURE_OFF: def('LW_API_CAPTURE_OFF', 409, 'real-time capture is off: PUT /api/security/realtime-capture {"enabled":true} first'),
  LW_API_FEED_IN_CONFIG: def('LW_API_FEED_IN_CONFIG', 409, 'this feed is defined in the config file (feeds:); change or remove it there'),
  LW_API_SQL_REFUSED: def('LW_API_SQL_REFUSED', 400, 'the query is not allowed: one SELECT over the logwarden database, no SETTINGS, FORMAT, table functions that reach out, or system tables beyond a few'),
  LW_API_SQL_FAILED: def('LW_API_SQL_FAILED', 400, 'ClickHouse refused the query (syntax, unknown column, missing or bad parameter)'),
  LW_API_SQL_LIMIT: def('LW_API_SQL_LIMIT', 422, 'the query reached a limit (the answer\'s "limit" names its soc.* config key)'),
  LW_API_SQL_BUSY: def('LW_API_SQL_BUSY', 429, 'this token already runs soc.max_concurrent_queries_per_token queries; retry when one ends', true),
  LW_API_STORAGE_UNAVAILABLE: def('LW_API_STORAGE_UNAVAILABLE', 503, 'ClickHouse is unavailable; retry later', true),
  LW_API_BUS_UNAVAILABLE: def('LW_API_BUS_UNAVAILABLE', 503, 'the message bus is unavailable; retry later', true),
  LW_API_NO_ENFORCER: def('LW_API_NO_ENFORCER', 503, 'no enforcer runs in this process; the enforcers reconcile on their own every scan_interval'),
  LW_API_INTERNAL: def('LW_API_INTERNAL', 500, 'internal error'),
});

export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends LogwardenError {
  declare readonly code: ApiErrorCode;
  readonly statusCode: number;
  readonly extra: Record<string, unknown> | undefined;

  constructor(code: ApiErrorCode, message?: string, field?: string, extra?: Record<string, unknown>) {
    const d = API_ERRORS[code];
    super(d, message, field === undefined ? {} : { field });
    this.statusCode = d.status;
    this.extra = extra;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.message, code: this.code, ...(this.field === undefined ? {} : { field: this.field }), ...(this.extra ?? {}) };
  }
}

/** A 400 naming the field. */
export function invalid(field: string, message: string): ApiError {
  return new ApiError('LW_API_VALIDATION', `${field}: ${message}`, field);
}

/** The JSON Schema every error body follows (for the OpenAPI document). */
export const errorSchema = {
  type: 'object',
  required: ['error', 'code'],
  properties: {
    error: { type: 'string' },
    code: { type: 'string', enum: Object.keys(API_ERRORS) },
    field: { type: 'string' },
  },
} as const;
