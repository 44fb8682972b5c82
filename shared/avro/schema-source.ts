// Where schema ids come from. Without a schema registry, the project's own
// table (schemas/registry.json) is the source: it maps stable ids to the
// versioned .avsc files under schemas/avro/. A Confluent Schema Registry client
// can replace it later by implementing SchemaSource (fetch and cache the
// subjects at start; the codec only asks synchronously, on the hot path).
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import avsc from 'avsc';
import type { Type } from 'avsc';
import { LogwardenError } from '../errors.js';
import { AVRO_ERRORS } from './errors.js';

/** One registered version of a subject's schema. */
export interface SchemaVersion {
  /** Confluent-style schema id, written in bytes 1..4 of every value; stable forever. */
  readonly id: number;
  /** Record name without namespace: AccessRecord, SecurityEvent, BlockDecision. */
  readonly subject: string;
  /** Order within the subject; the highest is the current (reader and writer) schema. */
  readonly version: number;
  /** The schema as parsed JSON. */
  readonly schema: object;
}

/**
 * Contract: answers synchronously and never changes the schema of an id once
 * it has answered for it (ids are immutable, as in a Confluent registry).
 * `latest` may change over the life of the process; codecs read it once.
 */
export interface SchemaSource {
  /** The current version of a subject; throws when the subject is unknown. */
  latest(subject: string): SchemaVersion;
  /** Any version by id; undefined when the id is unknown. */
  byId(id: number): SchemaVersion | undefined;
}

/** Parse options shared by every place that turns an .avsc into a Type, so all agree on value shapes. */
export const TYPE_OPTIONS = Object.freeze({
  // Nullable fields decode to `T | null`, never to `{ string: ... }` wrappers,
  // whatever unions a later version adds: the TypeScript shapes in
  // shared/records.ts have no wrapped form.
  wrapUnions: 'never',
  omitRecordMethods: true,
} as const);

export function parseSchema(schema: object): Type {
  // A fresh options object each time: avsc keeps its registry of named types
  // in it, and every version of a subject reuses the same record name.
  return avsc.Type.forSchema(schema as Parameters<typeof avsc.Type.forSchema>[0], { ...TYPE_OPTIONS });
}

/** SHA-256 of the Avro Parsing Canonical Form, hex: what registry.json records per released file. */
export function schemaFingerprint(schema: object): string {
  return parseSchema(schema).fingerprint('sha256').toString('hex');
}

interface RegistryEntry {
  id: number;
  subject: string;
  version: number;
  file: string;
  fingerprint?: string;
}

export interface LocalSchemaVersion extends SchemaVersion {
  /** Path of the .avsc file relative to the schemas directory. */
  readonly file: string;
  /** Fingerprint recorded in registry.json when the file was released. */
  readonly recordedFingerprint: string | undefined;
}

/** The schema table in schemas/registry.json. Loading is strict: a malformed table fails at start. */
export class LocalSchemaSource implements SchemaSource {
  readonly dir: string;
  readonly versions: readonly LocalSchemaVersion[];
  private readonly ids = new Map<number, LocalSchemaVersion>();
  private readonly latestBySubject = new Map<string, LocalSchemaVersion>();

  constructor(dir: string) {
    this.dir = dir;
    const registryPath = join(dir, 'registry.json');
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(registryPath, 'utf8'));
    } catch (err) {
      throw new LogwardenError(AVRO_ERRORS.LW_AVRO_REGISTRY_INVALID, `cannot read schema table ${registryPath}: ${(err as Error).message}`, { cause: err });
    }
    if (!Array.isArray(raw)) throw new LogwardenError(AVRO_ERRORS.LW_AVRO_REGISTRY_INVALID, `${registryPath}: expected a JSON array of schema versions`);

    const versions: LocalSchemaVersion[] = [];
    const seenVersion = new Set<string>();
    raw.forEach((item: unknown, i) => {
      const entry = checkEntry(item, `${registryPath}[${i}]`);
      if (this.ids.has(entry.id)) throw new LogwardenError(AVRO_ERRORS.LW_AVRO_REGISTRY_INVALID, `${registryPath}[${i}]: duplicate schema id ${entry.id}`);
      const key = `${entry.subject}\u0000${entry.version}`;
      if (seenVersion.has(key)) {
        throw new LogwardenError(AVRO_ERRORS.LW_AVRO_REGISTRY_INVALID, `${registryPath}[${i}]: duplicate version ${entry.version} of subject ${entry.subject}`);
      }
      seenVersion.add(key);
      const file = join(dir, entry.file);
      let schema: object;
      try {
        schema = JSON.parse(readFileSync(file, 'utf8')) as object;
        parseSchema(schema);
      } catch (err) {
        throw new LogwardenError(AVRO_ERRORS.LW_AVRO_REGISTRY_INVALID, `${registryPath}[${i}]: schema ${file}: ${(err as Error).message}`, { cause: err });
      }
      const version: LocalSchemaVersion = {
        id: entry.id,
        subject: entry.subject,
        version: entry.version,
        schema,
        file: entry.file,
        recordedFingerprint: entry.fingerprint,
      };
      versions.push(version);
      this.ids.set(version.id, version);
      const prev = this.latestBySubject.get(version.subject);
      if (!prev || prev.version < version.version) this.latestBySubject.set(version.subject, version);
    });
    this.versions = versions;
  }

  latest(subject: string): LocalSchemaVersion {
    const v = this.latestBySubject.get(subject);
    if (!v) throw new LogwardenError(AVRO_ERRORS.LW_AVRO_UNKNOWN_SUBJECT, `no schema for subject ${subject} in ${join(this.dir, 'registry.json')}`);
    return v;
  }

  byId(id: number): LocalSchemaVersion | undefined {
    return this.ids.get(id);
  }

  subjects(): string[] {
    return [...this.latestBySubject.keys()];
  }
}

function checkEntry(item: unknown, where: string): RegistryEntry {
  if (typeof item !== 'object' || item === null) throw new LogwardenError(AVRO_ERRORS.LW_AVRO_REGISTRY_INVALID, `${where}: expected an object`);
  const e = item as Record<string, unknown>;
  // Confluent ids are positive int32: keep ours in that range so a registry can import them as they are.
  if (typeof e.id !== 'number' || !Number.isInteger(e.id) || e.id < 1 || e.id > 0x7fffffff) {
    throw new LogwardenError(AVRO_ERRORS.LW_AVRO_REGISTRY_INVALID, `${where}.id: expected an integer in 1..2147483647`);
  }
  if (typeof e.subject !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(e.subject)) {
    throw new LogwardenError(AVRO_ERRORS.LW_AVRO_REGISTRY_INVALID, `${where}.subject: expected an Avro record name`);
  }
  if (typeof e.version !== 'number' || !Number.isInteger(e.version) || e.version < 0) {
    throw new LogwardenError(AVRO_ERRORS.LW_AVRO_REGISTRY_INVALID, `${where}.version: expected an integer >= 0`);
  }
  if (typeof e.file !== 'string' || e.file === '' || isAbsolute(e.file)) {
    throw new LogwardenError(AVRO_ERRORS.LW_AVRO_REGISTRY_INVALID, `${where}.file: expected a path relative to the schemas directory`);
  }
  if (e.fingerprint !== undefined && (typeof e.fingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(e.fingerprint))) {
    throw new LogwardenError(AVRO_ERRORS.LW_AVRO_REGISTRY_INVALID, `${where}.fingerprint: expected 64 lower-case hex digits`);
  }
  return e as unknown as RegistryEntry;
}

/**
 * The schemas directory: LOGWARDEN_SCHEMAS_DIR, else the repo's schemas/ found
 * from this file, compiled (dist/shared/avro/ → three levels up) or run from
 * source (shared/avro/ → two levels up).
 */
export function schemasDir(): string {
  const override = process.env.LOGWARDEN_SCHEMAS_DIR;
  if (override) {
    const dir = resolve(override);
    if (!existsSync(join(dir, 'registry.json'))) {
      throw new LogwardenError(AVRO_ERRORS.LW_AVRO_SCHEMAS_NOT_FOUND, `LOGWARDEN_SCHEMAS_DIR=${override}: no registry.json in ${dir}`);
    }
    return dir;
  }
  const candidates = ['../../../schemas/', '../../schemas/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  for (const dir of candidates) {
    if (existsSync(join(dir, 'registry.json'))) return dir;
  }
  throw new LogwardenError(AVRO_ERRORS.LW_AVRO_SCHEMAS_NOT_FOUND, `schemas/registry.json not found (looked in ${candidates.join(', ')}); set LOGWARDEN_SCHEMAS_DIR`);
}

let local: LocalSchemaSource | undefined;

/** The process-wide local schema table, loaded on first use. */
export function localSchemas(): LocalSchemaSource {
  local ??= new LocalSchemaSource(schemasDir());
  return local;
}

/**
 * Checks the rules of schemas/README.md that a machine can check. Returns one
 * line per broken rule; empty when the table is sound. Run by the tests.
 */
export function registryProblems(dir: string): string[] {
  let source: LocalSchemaSource;
  try {
    source = new LocalSchemaSource(dir);
  } catch (err) {
    return [(err as Error).message];
  }
  const problems: string[] = [];
  const bySubject = new Map<string, LocalSchemaVersion[]>();
  for (const v of source.versions) {
    const where = `${v.file} (id ${v.id})`;
    const type = parseSchema(v.schema);
    if (type.typeName !== 'record') problems.push(`${where}: top-level type is ${type.typeName}, expected record`);
    if (type.name !== `dev.logwarden.${v.subject}`) {
      problems.push(`${where}: record is named ${type.name ?? '(anonymous)'}, expected dev.logwarden.${v.subject}`);
    }
    if (v.recordedFingerprint === undefined) {
      problems.push(`${where}: no fingerprint recorded in registry.json`);
    } else {
      const actual = schemaFingerprint(v.schema);
      if (actual !== v.recordedFingerprint) {
        problems.push(`${where}: file changed after release (fingerprint ${actual}, registry.json has ${v.recordedFingerprint}); add a new version instead`);
      }
    }
    problems.push(...fieldProblems(v.schema, where));
    const list = bySubject.get(v.subject) ?? [];
    list.push(v);
    bySubject.set(v.subject, list);
  }
  // Every version must read every other version of its subject (full
  // transitive compatibility): consumers and producers upgrade in any order,
  // and a compacted topic keeps records of every age.
  for (const [subject, list] of bySubject) {
    for (const reader of list) {
      for (const writer of list) {
        if (reader === writer) continue;
        try {
          parseSchema(reader.schema).createResolver(parseSchema(writer.schema));
        } catch (err) {
          problems.push(`${subject}: version ${reader.version} (id ${reader.id}) cannot read version ${writer.version} (id ${writer.id}): ${(err as Error).message}`);
        }
      }
    }
  }
  return problems;
}

interface FieldJson {
  name?: unknown;
  doc?: unknown;
  type?: unknown;
  default?: unknown;
}

function fieldProblems(schema: object, where: string): string[] {
  const problems: string[] = [];
  const fields = (schema as { fields?: unknown }).fields;
  if (!Array.isArray(fields)) return problems;
  for (const f of fields as FieldJson[]) {
    const name = String(f.name);
    if (typeof f.doc !== 'string' || f.doc.trim() === '') problems.push(`${where}: field ${name} has no doc`);
    if (Array.isArray(f.type) && f.type.includes('null')) {
      if (f.type[0] !== 'null' || f.default !== null) {
        problems.push(`${where}: nullable field ${name} must be ["null", T] with default null`);
      }
    }
    const t = f.type as { type?: unknown; default?: unknown; name?: unknown } | undefined;
    if (t && typeof t === 'object' && t.type === 'enum' && typeof t.default !== 'string') {
      problems.push(`${where}: enum ${String(t.name)} of field ${name} needs a default symbol so older readers survive new symbols`);
    }
  }
  return problems;
}
