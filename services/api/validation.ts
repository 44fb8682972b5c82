// Request validation from the route schemas, with two Ajv instances instead of
// fastify's default one: bodies are checked as sent (no type coercion, unknown
// fields refused, never silently stripped: a misspelt "duraton" must be an
// error, not a block that silently uses the default), while query strings and
// path parameters, which are always text, are coerced to their declared types.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { FastifySchema } from 'fastify';
import { normalizeIp, normalizeIpOrCidr } from '../../shared/ip.js';
import { DURATION_PATTERN } from '../../shared/config/duration.js';
import { parseSize } from '../../shared/config/size.js';
import { ApiError } from './errors.js';

/** True when `s` holds a C0 control character or DEL (never valid in a path, a credential or a header value). */
export function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** A URL path: starts with "/", no query, fragment, whitespace or control characters. */
export function isUrlPath(s: string): boolean {
  return s.startsWith('/') && !/[?#\s]/.test(s) && !hasControlChar(s);
}

function addFormats(ajv: Ajv): Ajv {
  ajv.addFormat('ip', { type: 'string', validate: (s: string) => normalizeIp(s) !== undefined && !s.includes('/') });
  ajv.addFormat('ip-or-cidr', { type: 'string', validate: (s: string) => normalizeIpOrCidr(s) !== undefined });
  ajv.addFormat('duration', { type: 'string', validate: (s: string) => DURATION_PATTERN.test(s) });
  ajv.addFormat('size', { type: 'string', validate: (s: string) => parseSize(s) !== undefined });
  ajv.addFormat('url-path', { type: 'string', validate: isUrlPath });
  ajv.addKeyword({ keyword: 'example' });
  return ajv;
}

const bodyAjv = addFormats(new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: false, strict: true }));
const textAjv = addFormats(new Ajv({ allErrors: false, coerceTypes: true, removeAdditional: false, useDefaults: true, strict: true }));

export function validatorCompiler({ schema, httpPart }: { schema: FastifySchema; httpPart?: string }): ValidateFunction {
  if (httpPart === 'body') return bodyAjv.compile(schema as object);
  return finiteOnly(textAjv.compile(schema as object));
}

/**
 * Ajv coerces "Infinity", "-Infinity" and "1e400" in a query string to numbers that its
 * integer and range checks let through (they compare the text); found by the API fuzzer
 * as a 500 on ?offset=-Infinity. A non-finite number is refused, naming its field.
 */
function finiteOnly(validate: ValidateFunction): ValidateFunction {
  const check = (data: unknown): boolean => {
    if (!validate(data)) {
      check.errors = validate.errors;
      return false;
    }
    check.errors = null;
    if (data && typeof data === 'object') {
      for (const [key, value] of Object.entries(data)) {
        if (typeof value === 'number' && !Number.isFinite(value)) {
          check.errors = [{ keyword: 'type', instancePath: `/${key}`, schemaPath: '#/type', params: { type: 'number' }, message: 'must be a finite number' }];
          return false;
        }
      }
    }
    return true;
  };
  check.errors = null as ErrorObject[] | null | undefined;
  return Object.assign(check, { schema: validate.schema, schemaEnv: validate.schemaEnv }) as ValidateFunction;
}

/** The first Ajv error as a 400 naming the field ("allowed_ips[2]", "limit"). */
export function validationError(errors: readonly ErrorObject[], context: string): ApiError {
  const e = errors[0];
  if (!e) return new ApiError('LW_API_VALIDATION', `invalid ${context}`);
  const base = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc === '' ? part : `${acc}.${part}`), '');
  const join = (name: string): string => (base === '' ? name : `${base}.${name}`);
  let field = base;
  let message = e.message ?? 'is invalid';
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      field = join(String(p.additionalProperty));
      message = 'unknown field';
      break;
    case 'required':
      field = join(String(p.missingProperty));
      message = 'is required';
      break;
    case 'format':
      message = formatMessage(String(p.format));
      break;
    case 'enum':
      message = `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    default:
      break;
  }
  const where = field === '' ? context : field;
  return new ApiError('LW_API_VALIDATION', `${where}: ${message}`, where);
}

function formatMessage(format: string): string {
  switch (format) {
    case 'ip':
      return 'must be an IPv4 or IPv6 address';
    case 'ip-or-cidr':
      return 'must be an IPv4/IPv6 address or CIDR block (e.g. 10.0.0.0/8)';
    case 'duration':
      return 'must be a duration such as 30s, 2m, 24h, 7d';
    case 'url-path':
      return 'must be a path starting with / (no query or fragment)';
    default:
      return `must match format ${format}`;
  }
}
