// The security_filter engine against the shared vectors (the Lua engine runs
// the same file), against permutations of every rule array, against ipaddr.js
// and a reference glob matcher on generated input, and its validation against
// the JSON Schema the API serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import ipaddr from 'ipaddr.js';
import { schemasDir } from '../avro/schema-source.js';
import type { AccessRecord } from '../records.js';
import {
  BLOCK_STATUS,
  COUNTRY_CODES,
  HOST_PATTERN,
  IP_ENTRY_PATTERN,
  LIMITS,
  ON_FILTERED,
  PATH_PATTERN,
  RULE_ID_PATTERN,
  USER_AGENT_PATTERN,
  compileRuleSet,
  globRegExp,
  validateRuleSet,
  type FilterOutcome,
  type FilterRule,
  type RuleSet,
  type SecurityFilter,
} from './index.js';
import { filterVectors, invalidFilterVectors, withGeo, type Vector, type VectorExpect } from '../testing/filter-vectors.js';

const dir = join(schemasDir(), 'security-filter');
const readJson = (name: string): unknown => JSON.parse(readFileSync(join(dir, name), 'utf8'));

const vectors = filterVectors();
const invalid = invalidFilterVectors();
const schema = readJson('rule-set.schema.json') as Record<string, unknown>;
const ajv = new Ajv({ allErrors: true, strict: true });
const schemaValid = ajv.compile(schema);

function check(got: FilterOutcome, want: VectorExpect, where: string): void {
  assert.equal(got.action, want.action, `${where}: action`);
  assert.equal(got.status, want.status, `${where}: status`);
  assert.equal(got.rule_id, want.rule_id, `${where}: rule_id`);
  if (want.matched !== undefined) assert.deepEqual([...got.matched], want.matched, `${where}: matched`);
  // Invariants every outcome keeps, whether or not the vector spells out `matched`.
  if (got.action === 'none') assert.equal(got.matched.length, 0, `${where}: none matches nothing`);
  else assert.ok(got.rule_id !== undefined && got.matched.includes(got.rule_id), `${where}: the deciding rule is among the matched`);
  assert.deepEqual([...got.matched], [...got.matched].sort(), `${where}: matched ascending`);
}

function runVector(v: Vector, ruleSet: RuleSet | null, label: string): void {
  const engine = compileRuleSet(ruleSet);
  v.requests.forEach(({ request, expect }, i) => check(engine.evaluate(withGeo(v, request)), expect, `${label} request ${i} ${JSON.stringify(request).slice(0, 160)}`));
}

test('the vector files are well formed and cover the ground', () => {
  const requests = vectors.reduce((n, v) => n + v.requests.length, 0);
  assert.ok(requests >= 40, `at least 40 requests (${requests})`);
  const names = new Set(vectors.map((v) => v.name));
  assert.equal(names.size, vectors.length, 'case names are unique');
  for (const v of vectors) {
    for (const { request, expect } of v.requests) {
      assert.deepEqual(Object.keys(request).sort(), ['country', 'host', 'ip', 'path', 'user_agent'], v.name);
      for (const k of Object.keys(expect)) assert.ok(['action', 'status', 'rule_id', 'matched'].includes(k), `${v.name}: expect.${k}`);
      assert.equal(expect.status !== undefined, expect.action === 'block', `${v.name}: status exactly on block`);
    }
  }
  const actions = new Set(vectors.flatMap((v) => v.requests.map((r) => r.expect.action)));
  assert.deepEqual([...actions].sort(), ['block', 'challenge', 'none', 'warn']);
  assert.ok(invalid.length > 0 && new Set(invalid.map((i) => i.name)).size === invalid.length, 'invalid documents have unique names');
});

for (const v of vectors) {
  test(`vector: ${v.name}`, () => runVector(v, v.rule_set, v.name));
}

// ---------------------------------------------------------------------------
// Order independence beyond the permutations written into the file.

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

/** Every order for short arrays; reversal and every rotation for longer ones. */
function orders<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 4) return permutations(xs);
  const out = [[...xs].reverse()];
  for (let k = 1; k < xs.length; k++) out.push([...xs.slice(k), ...xs.slice(0, k)]);
  return out;
}

function reorderFilter(f: SecurityFilter | undefined, order: (rules: FilterRule[]) => FilterRule[]): SecurityFilter | undefined {
  return f && f.filter_rules ? { ...f, filter_rules: order(f.filter_rules) } : f;
}

test('no vector changes outcome when any rule array or the paths array is reordered', () => {
  let variants = 0;
  for (const v of vectors) {
    const rs = v.rule_set;
    if (rs === null) continue;
    const arrays = [rs.property?.filter_rules, ...Object.values(rs.domains ?? {}).map((f) => f.filter_rules), ...(rs.paths ?? []).map((p) => p.security_filter.filter_rules)];
    const longest = Math.max(0, ...arrays.map((a) => a?.length ?? 0));
    // The k-th order of every array at once, for k over the longest array's orders.
    for (let k = 0; k < orders([...Array(longest).keys()]).length; k++) {
      const pick = (rules: FilterRule[]): FilterRule[] => {
        const all = orders(rules);
        return all[k % all.length] as FilterRule[];
      };
      const reordered: RuleSet = {
        ...rs,
        property: reorderFilter(rs.property, pick),
        domains: rs.domains && Object.fromEntries(Object.entries(rs.domains).map(([h, f]) => [h, reorderFilter(f, pick) as SecurityFilter])),
        paths: rs.paths && (k % 2 === 0 ? rs.paths : [...rs.paths].reverse()).map((p) => ({ ...p, security_filter: reorderFilter(p.security_filter, pick) as SecurityFilter })),
      };
      if (reordered.property === undefined) delete reordered.property;
      if (reordered.domains === undefined) delete reordered.domains;
      if (reordered.paths === undefined) delete reordered.paths;
      runVector(v, reordered, `${v.name} [order ${k}]`);
      variants++;
    }
  }
  assert.ok(variants > vectors.length, `reordered variants run (${variants})`);
});

// ---------------------------------------------------------------------------
// Validation, and the JSON Schema agreeing with it.

test('every vector rule set is valid, to validateRuleSet and to the JSON Schema', () => {
  for (const v of vectors) {
    if (v.rule_set === null) continue;
    const r = validateRuleSet(v.rule_set);
    assert.ok(r.ok, `${v.name}: ${r.ok ? '' : JSON.stringify(r.errors)}`);
    assert.deepEqual(r.ruleSet, v.rule_set, 'the validated rule set is the document');
    assert.notEqual(r.ruleSet, v.rule_set, 'a copy, not the caller’s object');
    assert.ok(schemaValid(v.rule_set), `${v.name}: schema: ${JSON.stringify(schemaValid.errors)}`);
  }
});

for (const bad of invalid) {
  test(`invalid: ${bad.name} → ${bad.error_path || '(document)'}`, () => {
    const r = validateRuleSet(bad.rule_set);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.ok(
      r.errors.some((e) => e.path === bad.error_path),
      `an error at ${bad.error_path}; got ${JSON.stringify(r.errors)}`,
    );
    for (const e of r.errors) assert.ok(e.message.length > 0);
    assert.throws(() => compileRuleSet(bad.rule_set as RuleSet), /invalid security_filter rule set/);
    // The schema catches all but what it cannot express, and the file says which those are.
    assert.equal(schemaValid(bad.rule_set), bad.schema === false, `schema verdict: ${JSON.stringify(schemaValid.errors)}`);
  });
}

test('the JSON Schema holds the engine’s patterns, limits and country codes (limits.json)', () => {
  const defs = schema.definitions as Record<string, { properties: Record<string, Record<string, unknown>> } & Record<string, unknown>>;
  const crit = defs.criteria!.properties;
  assert.equal((crit.ips!.items as { pattern: string }).pattern, IP_ENTRY_PATTERN);
  assert.equal((crit.user_agents!.items as { pattern: string }).pattern, USER_AGENT_PATTERN);
  assert.equal(defs.rule!.properties.id!.pattern, RULE_ID_PATTERN);
  assert.equal(defs.pathFilter!.properties.path!.pattern, PATH_PATTERN);
  assert.equal(defs.host!.pattern, HOST_PATTERN);
  assert.equal(defs.host!.maxLength, LIMITS.hostLength);
  assert.equal(crit.ips!.maxItems, LIMITS.ips);
  assert.equal(crit.user_agents!.maxItems, LIMITS.userAgents);
  assert.equal(crit.geo!.maxItems, LIMITS.geo);
  assert.equal(defs.securityFilter!.properties.filter_rules!.maxItems, LIMITS.rulesPerFilter);
  const root = schema.properties as Record<string, Record<string, unknown>>;
  assert.equal(root.domains!.maxProperties, LIMITS.domains);
  assert.equal(root.paths!.maxItems, LIMITS.paths);
  assert.equal(root.version!.maximum, LIMITS.versionMax);
  assert.equal(LIMITS.versionMax, Number.MAX_SAFE_INTEGER);
  assert.deepEqual(defs.responseHandling!.properties.on_filtered!.enum, [...ON_FILTERED]);
  const status = defs.responseHandling!.properties.block_http_status!;
  assert.equal(status.minimum, BLOCK_STATUS.min);
  assert.equal(status.maximum, BLOCK_STATUS.max);
  const cc = (crit.geo!.items as { properties: { COUNTRY_CODE: { enum: string[] } } }).properties.COUNTRY_CODE.enum;
  assert.deepEqual([...cc].sort(), [...COUNTRY_CODES].sort());
  // Every code is one the platform's ICU names (catches a typo in the list).
  const names = new Intl.DisplayNames(['en'], { type: 'region' });
  for (const c of COUNTRY_CODES) assert.notEqual(names.of(c), c, `${c} is a region ICU knows`);
  assert.equal(COUNTRY_CODES.size, 251, '249 ISO 3166-1 codes, XK and EU');
});

test('validation messages say what to write instead', () => {
  const r = validateRuleSet({
    version: 1,
    property: {
      enabled: true,
      filter_rules: [
        { id: 'a', match: { ips: ['10.1.2.3/8', '2001:db8::1/32', '::ffff:192.0.2.1/120'], geo: [{ COUNTRY_CODE: 'UK' }, { COUNTRY_CODE: 'de' }] } },
        { id: 'a', match: { geo: [{ COUNTRY_CODE: 'FR' }] } },
      ],
    },
  });
  assert.ok(!r.ok);
  const byPath = new Map(r.errors.map((e) => [e.path, e.message]));
  assert.match(byPath.get('property.filter_rules[0].match.ips[0]') ?? '', /10\.0\.0\.0\/8/);
  assert.match(byPath.get('property.filter_rules[0].match.ips[1]') ?? '', /2001:db8::\/32/);
  assert.match(byPath.get('property.filter_rules[0].match.ips[2]') ?? '', /192\.0\.2\.0\/24/);
  assert.match(byPath.get('property.filter_rules[0].match.geo[0].COUNTRY_CODE') ?? '', /"GB"/);
  assert.match(byPath.get('property.filter_rules[0].match.geo[1].COUNTRY_CODE') ?? '', /"DE"/);
  assert.match(byPath.get('property.filter_rules[1].id') ?? '', /filter_rules\[0\]/);
});

test('one security_filter holds at most LIMITS.userAgentsPerFilter user-agent patterns', () => {
  const rule = (id: string, n: number): FilterRule => ({ id, match: { user_agents: Array.from({ length: n }, (_, i) => `*bot-${id}-${i}*`) } });
  const doc = (n: number): RuleSet => ({ version: 1, property: { enabled: true, filter_rules: [rule('a', 1000), rule('b', n - 1000)] } });
  // Ten rules of a thousand: the most one filter may hold.
  const full: RuleSet = { version: 1, property: { enabled: true, filter_rules: Array.from({ length: 10 }, (_, i) => rule(`r${i}`, LIMITS.userAgentsPerFilter / 10)) } };
  assert.ok(validateRuleSet(full).ok);
  const engine = compileRuleSet(full);
  assert.equal(engine.evaluate({ host: 'h', path: '/', user_agent: 'X BOT-r7-999 y', country: null, ip: '' }).rule_id, 'r7');
  assert.equal(engine.evaluate({ host: 'h', path: '/', user_agent: 'bot-r10-1 (no rule r10)', country: null, ip: '' }).action, 'none');
  const over = validateRuleSet({ ...full, property: { ...full.property, filter_rules: [...full.property!.filter_rules!, rule('extra', 1)] } });
  assert.ok(!over.ok && over.errors.some((e) => e.path === 'property.filter_rules' && /at most/.test(e.message)));
  assert.ok(validateRuleSet(doc(1001)).ok);
});

test('a document with thousands of problems yields a bounded error list', () => {
  const ips = Array.from({ length: 500 }, (_, i) => `300.0.0.${i % 256}`);
  const r = validateRuleSet({ version: 1, property: { enabled: true, filter_rules: [{ id: 'x', match: { ips } }] } });
  assert.ok(!r.ok);
  assert.equal(r.errors.length, LIMITS.errors + 1);
  assert.match(r.errors[LIMITS.errors]!.message, /more than/);
});

// ---------------------------------------------------------------------------
// Addresses: the engine's strict parser and IpSet against ipaddr.js.

let seed = 0x9e3779b9;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x100000000;
}
const int = (n: number): number => Math.floor(rand() * n);

function randomV4(): string {
  return [int(256), int(256), int(256), int(256)].join('.');
}

/** Random IPv6 text in the forms clients and operators write: compressed or not, upper case, zero runs, embedded IPv4. */
function randomV6(): string {
  const groups = Array.from({ length: 8 }, () => (rand() < 0.4 ? 0 : rand() < 0.2 ? 0xffff : int(0x10000)));
  if (rand() < 0.15) groups.splice(0, 6, 0, 0, 0, 0, 0, 0xffff);
  const v4tail = rand() < 0.2;
  let parts = groups.map((g) => g.toString(16));
  if (v4tail) parts = [...parts.slice(0, 6), `${(groups[6]! >> 8) & 255}.${groups[6]! & 255}.${(groups[7]! >> 8) & 255}.${groups[7]! & 255}`];
  if (rand() < 0.2) parts = parts.map((p) => (p.includes('.') ? p : p.padStart(4, '0')));
  let text = parts.join(':');
  if (rand() < 0.7) {
    // Compress one run of zero groups (not necessarily the longest: any run is valid text).
    const zeroRuns: Array<[number, number]> = [];
    for (let i = 0; i < parts.length; i++) {
      if (!/^0+$/.test(parts[i]!)) continue;
      let j = i;
      while (j + 1 < parts.length && /^0+$/.test(parts[j + 1]!)) j++;
      zeroRuns.push([i, j]);
      i = j;
    }
    const run = zeroRuns[int(zeroRuns.length)];
    if (run) text = `${parts.slice(0, run[0]).join(':')}::${parts.slice(run[1] + 1).join(':')}`;
  }
  return rand() < 0.2 ? text.toUpperCase() : text;
}

function mutate(s: string): string {
  const i = int(s.length + 1);
  const ch = ':.0f1/%gx '.charAt(int(10));
  const r = rand();
  if (r < 0.4) return s.slice(0, i) + ch + s.slice(i);
  if (r < 0.8) return s.slice(0, i) + s.slice(i + 1);
  return s.slice(0, i) + ch + s.slice(i + 1);
}

/** The reference: ipaddr.js on the strict forms, IPv4-mapped folded. */
function reference(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (text.includes('%') || !ipaddr.IPv6.isValid(text)) return null;
  // ipaddr.js tolerates more than four hex digits in a group, and leading zeros in an
  // embedded IPv4 part; RFC 4291 text does not, and our IPv4 rule forbids them.
  const groups = text.split(':');
  if (groups.some((g) => !g.includes('.') && g.length > 4)) return null;
  const tail = groups[groups.length - 1]!;
  if (tail.includes('.') && !ipaddr.IPv4.isValidFourPartDecimal(tail)) return null;
  // ipaddr.js reads the deprecated IPv4-compatible form ::a.b.c.d as IPv4-mapped; RFC 4291
  // makes it the IPv6 address ::a.b.c.d (the engine does, and a vector pins it).
  const compat = /^::((?:\d+\.){3}\d+)$/.exec(text);
  if (compat) {
    const b = ipaddr.IPv4.parse(compat[1]!).toByteArray();
    return new ipaddr.IPv6([0, 0, 0, 0, 0, 0, (b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!]);
  }
  const a = ipaddr.IPv6.parse(text);
  return a.isIPv4MappedAddress() ? a.toIPv4Address() : a;
}

test('client addresses: the engine parses exactly what ipaddr.js parses strictly, and the schema pattern agrees', () => {
  const everything = compileRuleSet({ version: 1, property: { enabled: true, filter_rules: [{ id: 'all', match: { ips: ['0.0.0.0/0', '::/0'] } }] } });
  const entryRe = new RegExp(IP_ENTRY_PATTERN);
  let valid = 0;
  let invalidSeen = 0;
  for (let i = 0; i < 20_000; i++) {
    const base = rand() < 0.5 ? randomV4() : randomV6();
    const text = rand() < 0.4 ? mutate(base) : base;
    const ref = reference(text);
    const got = everything.evaluate({ host: 'h', path: '/', user_agent: '', country: null, ip: text }).action;
    assert.equal(got === 'warn', ref !== null, `engine parse of ${JSON.stringify(text)}`);
    const slash = text.indexOf('/');
    if (slash < 0) assert.equal(entryRe.test(text), ref !== null, `schema pattern on ${JSON.stringify(text)}`);
    else {
      // A block: the address part as above, and a decimal prefix within its family's width.
      const addr = reference(text.slice(0, slash));
      const len = text.slice(slash + 1);
      const width = addr === null ? -1 : text.includes(':') ? 128 : 32;
      const want = addr !== null && /^(0|[1-9][0-9]{0,2})$/.test(len) && Number(len) <= width;
      assert.equal(entryRe.test(text), want, `schema pattern on ${JSON.stringify(text)}`);
    }
    if (ref) valid++;
    else invalidSeen++;
  }
  assert.ok(valid > 5_000 && invalidSeen > 2_000, `both kinds exercised (${valid} valid, ${invalidSeen} not)`);
});

test('address blocks: membership agrees with ipaddr.js match(), IPv4-mapped clients folded', () => {
  for (let round = 0; round < 200; round++) {
    const blocks: string[] = [];
    for (let i = 0; i < 1 + int(6); i++) {
      const v4 = rand() < 0.5;
      const prefix = v4 ? int(33) : int(129);
      const addr = ipaddr.parse(v4 ? randomV4() : ipaddr.IPv6.parse(randomV6()).toString());
      const bytes = addr.toByteArray().map((b, k) => (k * 8 >= prefix ? 0 : k * 8 + 8 <= prefix ? b : b & (0xff << (8 - (prefix - k * 8)))));
      blocks.push(`${ipaddr.fromByteArray(bytes).toString()}/${prefix}`);
    }
    const ranges = blocks.map((b) => {
      const [a, p] = ipaddr.parseCIDR(b);
      // The engine folds an IPv4-mapped block (prefix ≥ 96) to IPv4, as it folds clients.
      if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() && p >= 96) return [(a as ipaddr.IPv6).toIPv4Address(), p - 96] as const;
      return [a, p] as const;
    });
    const engine = compileRuleSet({ version: 1, property: { enabled: true, filter_rules: [{ id: 'r', match: { ips: blocks } }] } });
    for (let i = 0; i < 50; i++) {
      // Clients near the blocks: a block's own address with random low bits, or random.
      const near = ranges[int(ranges.length)]!;
      const bytes = near[0].toByteArray().map((b, k, all) => (k >= all.length - 1 - int(3) ? int(256) : b));
      let client = rand() < 0.8 ? ipaddr.fromByteArray(bytes).toString() : rand() < 0.5 ? randomV4() : randomV6();
      if (rand() < 0.2 && ipaddr.IPv4.isValidFourPartDecimal(client)) client = `::ffff:${client}`;
      const ref = reference(client);
      const want = ref !== null && ranges.some(([a, p]) => a.kind() === ref.kind() && ref.match(a, p));
      const got = engine.evaluate({ host: 'h', path: '/', user_agent: '', country: null, ip: client }).action === 'warn';
      assert.equal(got, want, `${client} in [${blocks.join(', ')}]`);
    }
  }
});

// ---------------------------------------------------------------------------
// Wildcards: the linear-time RegExp against a plain dynamic-programming glob.

function referenceGlob(pattern: string, subject: string): boolean {
  const p = [...pattern];
  const s = [...subject];
  let row = Array<boolean>(s.length + 1).fill(false);
  row[0] = true;
  for (const c of p) {
    const next = Array<boolean>(s.length + 1).fill(false);
    if (c === '*') {
      let any = false;
      for (let j = 0; j <= s.length; j++) next[j] = any ||= row[j]!;
    } else {
      for (let j = 1; j <= s.length; j++) next[j] = row[j - 1]! && (c === '?' || c === s[j - 1]);
    }
    row = next;
  }
  return row[s.length]!;
}

test('wildcard user agents agree with a reference glob matcher, through the engine (ASCII case folding)', () => {
  const alphabet = ['a', 'b', 'A', 's', 'K', 'é', '.', '(', '*', '?', '*'];
  // Subjects include characters that Unicode case folding would tie to ASCII letters (ſ ~ s, K ~ k) and an astral one.
  const subjects = ['a', 'b', 'B', 'é', 'É', '.', '(', 'x', 'ſ', 'S', '\u212a', 'k', '😀'];
  for (let round = 0; round < 400; round++) {
    // Half the rounds draw ASCII-and-star patterns only (the i-flag RegExp), half everything (the u-flag one).
    const letters = round % 2 === 0 ? alphabet.filter((c) => c !== 'é' && c !== '?') : alphabet;
    // A quarter of the rounds have more patterns than the direct RegExp takes (the literal prefilter path).
    const count = round % 4 < 2 ? 1 + int(3) : 9 + int(12);
    const patterns = Array.from({ length: count }, () => Array.from({ length: 1 + int(7) }, () => letters[int(letters.length)]!).join(''));
    const engine = compileRuleSet({ version: 1, property: { enabled: true, filter_rules: [{ id: 'ua', match: { user_agents: patterns } }] } });
    for (let i = 0; i < 40; i++) {
      const ua = Array.from({ length: int(10) }, () => subjects[int(subjects.length)]!).join('');
      const fold = (x: string): string => x.replace(/[A-Z]/g, (m) => m.toLowerCase());
      const want = patterns.some((p) => referenceGlob(fold(p), fold(ua)));
      const got = engine.evaluate({ host: 'h', path: '/', user_agent: ua, country: null, ip: '' }).action === 'warn';
      assert.equal(got, want, `${JSON.stringify(patterns)} on ${JSON.stringify(ua)}`);
    }
  }
  // Path wildcards: only * is special, and case counts.
  assert.ok(globRegExp(['/a?b*'], 'path').test('/a?b/c'));
  assert.ok(!globRegExp(['/a?b*'], 'path').test('/axb/c'));
  assert.ok(!globRegExp(['/Admin*'], 'path').test('/admin'));
});

// ---------------------------------------------------------------------------

test('evaluateRecord reads the access record’s fields', () => {
  const engine = compileRuleSet({ version: 2, domains: { 'shop.example': { enabled: true, filter_rules: [{ id: 'x', match: { ips: ['2001:db8::/32'], geo: [{ COUNTRY_CODE: 'NL' }] }, response_handling: { on_filtered: 'BLOCK', block_http_status: 418 } }] } } });
  const rec = { host: 'shop.example', path: '/p', user_agent: 'ua', country: 'NL', client_ip: '2001:db8::9' } as AccessRecord;
  const req = { host: rec.host, path: rec.path, user_agent: rec.user_agent, country: rec.country, ip: rec.client_ip };
  assert.deepEqual(engine.evaluateRecord(rec), engine.evaluate(req));
  assert.equal(engine.evaluateRecord(rec).status, 418);
  assert.equal(engine.version, 2);
  assert.equal(engine.evaluateRecord({ ...rec, country: null }).action, 'none');
});
