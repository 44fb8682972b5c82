// Request signatures: known attack tools' user agents, probes for sensitive
// files, traversal and injection markers. The shipped set is versioned (the
// version goes into every event's details); operators add their own in
// `detection.signatures`. Each hit is an event `signature:<id>`; its weight
// counts toward auto_block_threshold (a known attack tool's user agent weighs
// the whole threshold by default: it blocks at once).
import { readSourceJson } from '../../shared/source-json.js';
import { LogwardenError } from '../../shared/errors.js';
import { DETECTOR_ERRORS } from './errors.js';

export type SignatureField = 'user_agent' | 'path' | 'query' | 'path_or_query';

export interface Signature {
  id: string;
  field: SignatureField;
  /** A regular expression source, matched case-insensitively. */
  pattern: string;
  /** `scan_detected` for tools and probes, `suspicious` for payload markers. */
  type: 'scan_detected' | 'suspicious';
  /** Weight toward auto_block_threshold; `block` means the whole threshold. */
  weight: number | 'block';
  description: string;
}

interface ShippedSet {
  version: string;
  signatures: Signature[];
}

// The set is data (signatures/shipped.json beside this file's source), with one test case per
// real tool under testdata/tools/: a tool's default user agent is checked against the set by
// running the tool itself (tool-signatures.test.ts). Read from the source tree, which the built
// code sits beside.
function loadShipped(): ShippedSet {
  return readSourceJson<ShippedSet>(import.meta.url, ['../../../services/detector/signatures/shipped.json', './signatures/shipped.json'], (from) =>
    new LogwardenError(DETECTOR_ERRORS.LW_DETECTOR_SIGNATURES_MISSING, `services/detector/signatures/shipped.json not found beside ${from}`),
  );
}

const shipped = loadShipped();

export const SIGNATURE_SET_VERSION: string = shipped.version;

export const SHIPPED_SIGNATURES: readonly Signature[] = Object.freeze(shipped.signatures.map((sig) => Object.freeze(sig)));

export interface SignatureHit {
  sig: Signature;
}

/**
 * The signatures compiled once into one alternation per field, so a clean
 * request costs three regular-expression tests whatever the set's size; only
 * a match looks for which signature it was.
 */
export class SignatureMatcher {
  private readonly byField = new Map<'user_agent' | 'path' | 'query', { any: RegExp; each: Array<{ sig: Signature; re: RegExp }> }>();

  constructor(readonly signatures: readonly Signature[]) {
    for (const field of ['user_agent', 'path', 'query'] as const) {
      const mine = signatures.filter((s) => s.field === field || (s.field === 'path_or_query' && field !== 'user_agent'));
      if (mine.length === 0) continue;
      this.byField.set(field, {
        any: new RegExp(mine.map((s) => `(?:${s.pattern})`).join('|'), 'i'),
        each: mine.map((s) => ({ sig: s, re: new RegExp(s.pattern, 'i') })),
      });
    }
  }

  /** Signatures matched by this request (each at most once); the empty list is shared and frozen (copy it to add). */
  match(userAgent: string, path: string, query: string): readonly Signature[] {
    let out = this.check('user_agent', userAgent, undefined);
    out = this.check('path', path, out);
    out = this.check('query', query, out);
    return out ?? NO_SIGNATURES;
  }

  private check(field: 'user_agent' | 'path' | 'query', value: string, out: Signature[] | undefined): Signature[] | undefined {
    const f = this.byField.get(field);
    if (!f || value === '' || !f.any.test(value)) return out;
    for (const { sig, re } of f.each) {
      if (re.test(value) && !out?.includes(sig)) (out ??= []).push(sig);
    }
    return out;
  }
}

/** What a clean request matches: one shared empty list, not a new one a request. */
const NO_SIGNATURES: readonly Signature[] = Object.freeze([]);

/** Validates operator signatures; returns problems as "index: reason". */
export function signatureProblems(list: readonly Signature[]): string[] {
  const problems: string[] = [];
  const ids = new Set(SHIPPED_SIGNATURES.map((s) => s.id));
  list.forEach((s, i) => {
    if (ids.has(s.id)) problems.push(`[${i}].id: "${s.id}" is already used`);
    ids.add(s.id);
    try {
      new RegExp(s.pattern, 'i');
    } catch (err) {
      problems.push(`[${i}].pattern: ${(err as Error).message}`);
    }
  });
  return problems;
}
