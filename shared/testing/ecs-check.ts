// The README's ECS tables as a check: every document an ECS producer emits
// (the API's export, the notifier's SIEM push) must name only documented
// fields, hold every field not marked optional, and give each the type the
// table states. One check for every test that sees ECS documents.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

export interface DocumentedField {
  type: string;
  optional: boolean;
}

/** A README ECS table (between `<!-- <marker>:begin -->` and `:end -->`): field → { type, optional }. */
export function documentedFields(marker = 'ecs-fields'): Map<string, DocumentedField> {
  const text = readFileSync(README, 'utf8');
  const block = new RegExp(`<!-- ${marker}:begin -->\\n([\\s\\S]*?)<!-- ${marker}:end -->`).exec(text)?.[1];
  assert.ok(block, `the README has the ${marker} table`);
  const out = new Map<string, DocumentedField>();
  for (const line of block.split('\n').slice(2)) {
    const m = /^\| `([^`]+)` \| ([a-z[\]]+) \| (.*) \|$/.exec(line);
    if (m) out.set(m[1] as string, { type: m[2] as string, optional: (m[3] as string).endsWith('(optional)') });
  }
  return out;
}

/** Leaves of a nested document as dotted names; an object-typed field (logwarden.details) stays one leaf. */
export function flatten(doc: Record<string, unknown>, objects: ReadonlySet<string>, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(doc)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !objects.has(name)) for (const [kk, vv] of flatten(v as Record<string, unknown>, objects, name)) out.set(kk, vv);
    else out.set(name, v);
  }
  return out;
}

export function checkType(field: string, type: string, v: unknown): void {
  const where = `${field} = ${JSON.stringify(v)}`;
  switch (type) {
    case 'date':
      assert.ok(typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(v) && Number.isFinite(Date.parse(v)), `${where}: an ISO 8601 date`);
      break;
    case 'keyword':
      assert.equal(typeof v, 'string', `${where}: a keyword`);
      break;
    case 'ip':
      assert.ok(typeof v === 'string' && isIP(v) !== 0, `${where}: an IP address`);
      break;
    case 'long':
      assert.ok(Number.isSafeInteger(v), `${where}: a long`);
      break;
    case 'keyword[]':
      assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `${where}: keywords`);
      break;
    case 'object':
      assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string'), `${where}: an object of strings`);
      break;
    default:
      assert.fail(`the README states a type this test does not know: ${type}`);
  }
}

/** Checks one ECS document against a README table: only documented fields, every required one, each of its type. */
export function checkEcsDocument(doc: Record<string, unknown>, fields: ReadonlyMap<string, DocumentedField>): void {
  const objects = new Set([...fields].filter(([, f]) => f.type === 'object').map(([k]) => k));
  const flat = flatten(doc, objects);
  for (const [name, value] of flat) {
    const f = fields.get(name);
    assert.ok(f, `${name} is documented in the README`);
    checkType(name, f.type, value);
  }
  for (const [name, f] of fields) if (!f.optional) assert.ok(flat.has(name), `${name} is in every document`);
}
