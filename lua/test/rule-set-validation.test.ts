// TypeScript and Lua accept and refuse exactly the same security_filter rule
// sets. Every document of schemas/security-filter/ (each valid rule set of
// vectors.json, each refused one of invalid.json) goes to validateRuleSet
// and, inside a NodeRules document, to a real nginx's PUT /rules, whose Lua
// validator (logwarden.filter_validate) answers 200 or 400 with the field.
// Both verdicts must be the expected one, and Lua must name the field the
// vector names (it reports its first problem; the vectors hold one each).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemasDir } from '../../shared/avro/schema-source.js';
import { validateRuleSet } from '../../shared/security-filter/index.js';
import { signedControl, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';

interface Doc {
  name: string;
  rule_set: unknown;
  /** Set for a document every validator must refuse: the field to name. */
  error_path?: string;
}

const dir = join(schemasDir(), 'security-filter');
const readJson = (name: string): unknown => JSON.parse(readFileSync(join(dir, name), 'utf8'));
const valid: Doc[] = (readJson('vectors.json') as Doc[]).filter((v) => v.rule_set !== null).map(({ name, rule_set }) => ({ name, rule_set }));
const invalid = readJson('invalid.json') as Doc[];

let nginx: TestNginx | undefined;

before(async () => {
  nginx = await startTestNginx({ control: true, syslog: '127.0.0.1:9' });
});
after(async () => {
  await nginx?.stop();
});

let version = 0;

/** The Lua verdict: accepted, or refused naming a field (relative to the rule set). */
async function luaVerdict(ruleSet: unknown): Promise<{ ok: true } | { ok: false; field: string; error: string }> {
  const n = nginx as TestNginx;
  version += 1;
  const res = await signedControl(n, 'PUT', '/rules', { version, whitelist: { ips: [], paths: [] }, deployments: {}, routes: [], security_filter: ruleSet });
  const body = (await res.json()) as { error?: string; field?: string };
  if (res.status === 200) return { ok: true };
  assert.equal(res.status, 400, `PUT /rules answered ${res.status}: ${JSON.stringify(body)}`);
  const field = body.field ?? '';
  // The rule set sits at "security_filter" of the NodeRules document.
  return { ok: false, field: field === 'security_filter' ? '' : field.replace(/^security_filter\./, ''), error: body.error ?? '' };
}

test('every rule-set vector gets the same verdict from the TypeScript and the Lua validator', async (t) => {
  const failures: string[] = [];
  for (const doc of [...valid, ...invalid]) {
    const refuse = doc.error_path !== undefined;
    const ts = validateRuleSet(doc.rule_set);
    const lua = await luaVerdict(doc.rule_set);
    const tsSays = ts.ok ? 'accepts' : `refuses (${ts.errors.map((e) => `${e.path}: ${e.message}`).join('; ')})`;
    const luaSays = lua.ok ? 'accepts' : `refuses (${lua.field}: ${lua.error})`;
    if (ts.ok !== lua.ok) failures.push(`${doc.name}: TypeScript ${tsSays}, Lua ${luaSays}`);
    else if (ts.ok === refuse) failures.push(`${doc.name}: both ${refuse ? 'accept' : 'refuse'}, expected ${refuse ? 'refused' : 'accepted'}: TypeScript ${tsSays}, Lua ${luaSays}`);
    else if (!ts.ok && !lua.ok) {
      if (!ts.errors.some((e) => e.path === doc.error_path)) failures.push(`${doc.name}: TypeScript does not name ${doc.error_path ?? ''}: ${tsSays}`);
      if (lua.field !== doc.error_path) failures.push(`${doc.name}: Lua names ${JSON.stringify(lua.field)}, not ${JSON.stringify(doc.error_path)}: ${luaSays}`);
    }
  }
  t.diagnostic(`${valid.length} valid and ${invalid.length} invalid documents through both validators`);
  assert.ok(valid.length > 0 && invalid.length > 0);
  assert.deepEqual(failures, []);
});
