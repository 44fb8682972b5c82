import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalSchemaSource, localSchemas, registryProblems, schemaFingerprint, schemasDir } from './schema-source.js';

interface Entry {
  id: number;
  subject: string;
  version: number;
  file: string;
  fingerprint?: string;
}
interface RecordSchema {
  name: string;
  fields: { name: string; type: unknown; default?: unknown; doc?: string }[];
}

const dir = schemasDir();
const readTable = (d: string): Entry[] => JSON.parse(readFileSync(join(d, 'registry.json'), 'utf8')) as Entry[];
const readSchema = (d: string, file: string): RecordSchema => JSON.parse(readFileSync(join(d, file), 'utf8')) as RecordSchema;

/** A copy of the real schemas directory to break on purpose. */
function scratchCopy(t: { after: (fn: () => void) => void }): string {
  const copy = mkdtempSync(join(tmpdir(), 'logwarden-schemas-'));
  cpSync(dir, copy, { recursive: true });
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  return copy;
}

test('the project schema table keeps every checkable rule of schemas/README.md', () => {
  assert.deepEqual(registryProblems(dir), []);
});

test('ids are unique, files exist, every subject is present', () => {
  const table = readTable(dir);
  assert.equal(new Set(table.map((e) => e.id)).size, table.length, 'ids unique');
  for (const e of table) assert.ok(existsSync(join(dir, e.file)), `${e.file} exists`);
  assert.deepEqual([...new Set(table.map((e) => e.subject))].sort(), ['AccessRecord', 'BlockDecision', 'ControlChange', 'CrawlerVerdict', 'Notice', 'SecurityEvent']);
});

test('the current schema of a subject is its highest version', () => {
  const table = readTable(dir);
  for (const subject of new Set(table.map((e) => e.subject))) {
    const highest = table.filter((e) => e.subject === subject).reduce((a, b) => (b.version > a.version ? b : a));
    assert.equal(localSchemas().latest(subject).id, highest.id, subject);
  }
  assert.throws(() => localSchemas().latest('NoSuchRecord'), /no schema for subject NoSuchRecord/);
  assert.equal(localSchemas().byId(2 ** 31 - 1), undefined);
});

test('AccessRecord version 0 lacks exactly the fields version 1 added with defaults', () => {
  const table = readTable(dir);
  const file = (v: number): string => table.find((e) => e.subject === 'AccessRecord' && e.version === v)?.file ?? assert.fail(`v${v}`);
  const v0 = readSchema(dir, file(0));
  const v1 = readSchema(dir, file(1));
  const v0Names = new Set(v0.fields.map((f) => f.name));
  const added = v1.fields.filter((f) => !v0Names.has(f.name));
  assert.deepEqual(added.map((f) => f.name).sort(), ['country', 'extra', 'filter_alert']);
  for (const f of added) assert.notEqual(f.default, undefined, `${f.name} has a default`);
});

test('a duplicate id is reported', (t) => {
  const copy = scratchCopy(t);
  const table = readTable(copy);
  const first = table[0] ?? assert.fail('empty table');
  table.push({ ...first, version: 99 });
  writeFileSync(join(copy, 'registry.json'), JSON.stringify(table));
  assert.match(registryProblems(copy).join('\n'), new RegExp(`duplicate schema id ${first.id}`));
  assert.throws(() => new LocalSchemaSource(copy), /duplicate schema id/);
});

test('a missing schema file is reported', (t) => {
  const copy = scratchCopy(t);
  const table = readTable(copy);
  table.push({ id: 1000, subject: 'AccessRecord', version: 5, file: 'avro/access-record.v5.avsc' });
  writeFileSync(join(copy, 'registry.json'), JSON.stringify(table));
  assert.match(registryProblems(copy).join('\n'), /access-record\.v5\.avsc/);
});

test('a new version adding a field without a default is reported as incompatible', (t) => {
  const copy = scratchCopy(t);
  const table = readTable(copy);
  const cur = table.filter((e) => e.subject === 'BlockDecision').reduce((a, b) => (b.version > a.version ? b : a));
  const schema = readSchema(copy, cur.file);
  schema.fields.push({ name: 'ttl_ms', type: 'long', doc: 'Added without a default: old records cannot fill it.' });
  writeFileSync(join(copy, 'avro/block-decision.v99.avsc'), JSON.stringify(schema));
  table.push({ id: 1001, subject: 'BlockDecision', version: 99, file: 'avro/block-decision.v99.avsc', fingerprint: schemaFingerprint(schema) });
  writeFileSync(join(copy, 'registry.json'), JSON.stringify(table));
  const problems = registryProblems(copy);
  // One problem per released version it cannot read.
  const released = table.filter((e) => e.subject === 'BlockDecision' && e.version !== 99).map((e) => e.version);
  assert.equal(problems.length, released.length, problems.join('\n'));
  for (const v of released) assert.ok(problems.some((p) => p.includes(`BlockDecision: version 99 (id 1001) cannot read version ${v} `)), problems.join('\n'));
});

test('the same new field with a default is accepted', (t) => {
  const copy = scratchCopy(t);
  const table = readTable(copy);
  const cur = table.filter((e) => e.subject === 'BlockDecision').reduce((a, b) => (b.version > a.version ? b : a));
  const schema = readSchema(copy, cur.file);
  schema.fields.push({ name: 'ttl_ms', type: 'long', default: 0, doc: 'Added with a default.' });
  const next = cur.version + 1;
  writeFileSync(join(copy, `avro/block-decision.v${next}.avsc`), JSON.stringify(schema));
  table.push({ id: 1002, subject: 'BlockDecision', version: next, file: `avro/block-decision.v${next}.avsc`, fingerprint: schemaFingerprint(schema) });
  writeFileSync(join(copy, 'registry.json'), JSON.stringify(table));
  assert.deepEqual(registryProblems(copy), []);
  assert.equal(new LocalSchemaSource(copy).latest('BlockDecision').id, 1002);
});

test('editing a released file is reported', (t) => {
  const copy = scratchCopy(t);
  const entry = readTable(copy).find((e) => e.subject === 'SecurityEvent') ?? assert.fail('SecurityEvent');
  const schema = readSchema(copy, entry.file);
  const count = schema.fields.find((f) => f.name === 'count') ?? assert.fail('count field');
  count.type = 'int';
  writeFileSync(join(copy, entry.file), JSON.stringify(schema));
  assert.match(registryProblems(copy).join('\n'), /security-event\.v1\.avsc \(id \d+\): file changed after release/);
});

test('a field without doc and a nullable field without default null are reported', (t) => {
  const copy = scratchCopy(t);
  const table = readTable(copy);
  const entry = table.find((e) => e.subject === 'AccessRecord' && e.version === 1) ?? assert.fail('AccessRecord v1');
  const schema = readSchema(copy, entry.file);
  const node = schema.fields.find((f) => f.name === 'node') ?? assert.fail('node');
  delete node.doc;
  const country = schema.fields.find((f) => f.name === 'country') ?? assert.fail('country');
  country.type = ['string', 'null'];
  country.default = 'ZZ';
  writeFileSync(join(copy, entry.file), JSON.stringify(schema));
  entry.fingerprint = schemaFingerprint(schema);
  writeFileSync(join(copy, 'registry.json'), JSON.stringify(table));
  const problems = registryProblems(copy).join('\n');
  assert.match(problems, /field node has no doc/);
  assert.match(problems, /nullable field country must be \["null", T\] with default null/);
});

test('LOGWARDEN_SCHEMAS_DIR overrides where schemas are found', (t) => {
  const copy = scratchCopy(t);
  const before = process.env.LOGWARDEN_SCHEMAS_DIR;
  t.after(() => {
    if (before === undefined) delete process.env.LOGWARDEN_SCHEMAS_DIR;
    else process.env.LOGWARDEN_SCHEMAS_DIR = before;
  });
  process.env.LOGWARDEN_SCHEMAS_DIR = copy;
  assert.equal(schemasDir(), copy);
  process.env.LOGWARDEN_SCHEMAS_DIR = join(copy, 'nowhere');
  assert.throws(() => schemasDir(), /LOGWARDEN_SCHEMAS_DIR=.*no registry\.json/);
});
