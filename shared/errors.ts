// The one error convention (after fastify's lib/errors.js). Every error a
// user, an operator or a client can see carries a stable code
// `LW_<AREA>_<NAME>`, declared once in its area's errors module with a
// default message, an HTTP status where it has one, and whether it is
// retryable: "dependency unavailable" (the same call may succeed later) versus
// "refused" (it will fail the same way). Callers branch on `code` or
// `retryable`, never on the message. A retired code is never reused.
//
// Each area's table is listed in services/error-codes.ts, whose test checks
// that codes are unique, well formed and documented in the README.

export interface ErrorDef {
  readonly code: string;
  /** The default message, and the code's meaning in the README's table. */
  readonly message: string;
  /** The HTTP status an API answers with, where the error reaches one. */
  readonly status?: number;
  /** Dependency unavailable (true): the same call may succeed later. Refused (false): it will not. */
  readonly retryable: boolean;
}

/** `def` with its area, as `defineErrors` returns them. */
export type AreaErrorDef<D extends ErrorDef = ErrorDef> = D & { readonly area: string };

export function def(code: string, message: string, opts: { status?: number; retryable?: boolean } = {}): ErrorDef {
  return { code, message, ...(opts.status === undefined ? {} : { status: opts.status }), retryable: opts.retryable ?? false };
}

/**
 * An area's table, each key the code of its def. The key repeats the code on
 * purpose, so a table read alone shows every code (a test checks they are
 * equal).
 */
export function defineErrors<T extends Record<string, ErrorDef>>(area: string, table: T): { readonly [K in keyof T]: AreaErrorDef<T[K]> } {
  const out: Record<string, AreaErrorDef> = {};
  for (const [k, d] of Object.entries(table)) out[k] = Object.freeze({ ...d, area });
  return Object.freeze(out) as { readonly [K in keyof T]: AreaErrorDef<T[K]> };
}

export interface LogwardenErrorOptions {
  /** Dotted path of the offending field or key, when there is one. */
  field?: string;
  cause?: unknown;
  /** Overrides the def's, for the rare code whose instances differ. */
  retryable?: boolean;
}

/** The base of every coded error; an area subclasses it when its errors carry more fields. */
export class LogwardenError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly field: string | undefined;

  constructor(d: ErrorDef, message?: string, opts: LogwardenErrorOptions = {}) {
    super(message ?? d.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = d.code;
    this.retryable = opts.retryable ?? d.retryable;
    this.field = opts.field;
  }
}

function cell(text: string): string {
  // Markdown would take <token> for an HTML tag and drop it.
  return text.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\n/g, ' ');
}

/** The README's "Error codes" table: one row per code. */
export function errorCodesMarkdown(tables: ReadonlyArray<Readonly<Record<string, AreaErrorDef>>>): string {
  const lines = ['| code | area | HTTP | retryable | meaning |', '|---|---|---|---|---|'];
  for (const table of tables) {
    for (const d of Object.values(table)) {
      lines.push(`| \`${d.code}\` | ${d.area} | ${d.status ?? ''} | ${d.retryable ? 'yes' : 'no'} | ${cell(d.message)} |`);
    }
  }
  return lines.join('\n');
}
