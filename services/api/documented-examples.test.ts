// Every example of the two specifications (testdata/specs/), verbatim, against the real
// thing: the runtime (API, embedded ClickHouse, sink, enforcer) pushing to a
// real nginx with the Lua module. Nothing is retyped: the examples are read
// from the documents at test time (curl calls parsed as a shell would, the
// YAML and JSON blocks cut out of the text), so a changed document changes
// what runs. What is written here is only each example's documented effect,
// checked at nginx (or, where nginx shows none, in the API).
//
// FlatRun (000): its `security:` block, comment included, is the config; each
// curl call runs with its method, path, headers and body as written, `$TOKEN`
// the admin token and `localhost:8090` the API's test port.
// CDN (002): each `"security" : { "security_filter" : ... }` example is pasted
// as the config file as it is (unquoted key, trailing comma and all), and
// submitted through the API's filter endpoint.
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { hashToken } from '../../shared/auth/tokens.js';
import { clickHouseEnv } from '../../shared/clickhouse/testing.js';
import { loadConfig, type Config } from '../../shared/config/load.js';
import { configRuleSet } from '../../shared/config/security-filter.js';
import type { SecurityFilter } from '../../shared/security-filter/index.js';
import { uniqueName } from '../../shared/testing/kafka.js';
import { freePort, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';
import { nginxRequest, type NginxAnswer } from '../../shared/testing/nginx-client.js';
import { startRuntime, type Runtime, type ServiceName } from '../runtime.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const FLATRUN = readFileSync(join(root, 'services/api/testdata/specs/000_d8fb1c3ee99dc749.txt'), 'utf8');
const CDN = readFileSync(join(root, 'services/api/testdata/specs/002_20893a9c8a48f94c.txt'), 'utf8');

const TOKEN = 'lw_documented-examples-admin-0123456789';
const SECRET = 'documented-examples-secret-0123';
const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-doc-examples-'));
const prefix = `${uniqueName('docex')}.`;

// ---- Reading the documents ----

/** FlatRun's `security:` block as the document prints it: from `security:` to the option table. */
function flatRunSecurityBlock(text: string): string {
  const lines = text.split('\n');
  const start = lines.indexOf('security:');
  assert.ok(start >= 0, 'the FlatRun document has a `security:` block');
  const end = lines.findIndex((l, i) => i > start && /^Option\s+Description/.test(l));
  assert.ok(end > start, 'the block ends at the option table');
  return lines.slice(start, end).join('\n').trimEnd();
}

/** The words of a shell command line: quotes, backslash escapes and line continuations as sh reads them; `$NAME` expanded outside single quotes. */
function shellWords(line: string, vars: Record<string, string>): string[] {
  const words: string[] = [];
  let word: string | undefined;
  const expand = (s: string): string => s.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    assert.ok(name in vars, `the document uses $${name}`);
    return vars[name] as string;
  });
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (ch === '\\') {
      const next = line[++i];
      if (next !== '\n' && next !== undefined) word = (word ?? '') + next;
    } else if (ch === "'") {
      const close = line.indexOf("'", i + 1);
      assert.ok(close > i, `unclosed ' in ${line}`);
      word = (word ?? '') + line.slice(i + 1, close);
      i = close;
    } else if (ch === '"') {
      let s = '';
      for (i++; i < line.length && line[i] !== '"'; i++) s += line[i] === '\\' && /["\\$`]/.test(line[i + 1] ?? '') ? (line[++i] as string) : line[i];
      assert.ok(i < line.length, `unclosed " in ${line}`);
      word = (word ?? '') + expand(s);
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (ch === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(line.slice(i));
      assert.ok(m, `a bare $ in ${line}`);
      word = (word ?? '') + expand(m[0]);
      i += m[0].length - 1;
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Whether a quoted string is still open at the end of `line`, as sh reads it. */
function quoteOpen(line: string): boolean {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote === undefined && ch === '\\') i++;
    else if (quote === '"' && ch === '\\') i++;
    else if (quote === undefined && (ch === "'" || ch === '"')) quote = ch;
    else if (ch === quote) quote = undefined;
  }
  return quote !== undefined;
}

interface CurlCall {
  /** "POST /api/security/blocked-ips", the sub-test's name. */
  name: string;
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
}

/** Every curl command of the document, continuation lines joined, parsed with curl's own defaults (GET; POST with -d). */
function curlCalls(text: string, vars: Record<string, string>): CurlCall[] {
  const calls: CurlCall[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^curl\s/.test(lines[i] as string)) continue;
    let command = lines[i] as string;
    // A command goes on after a trailing backslash, and inside a quoted string (the JSON bodies span lines).
    while ((command.endsWith('\\') || quoteOpen(command)) && i + 1 < lines.length) command += `\n${lines[++i] as string}`;
    const words = shellWords(command, vars);
    let method: string | undefined;
    let body: string | undefined;
    let url: string | undefined;
    const headers: Record<string, string> = {};
    for (let w = 1; w < words.length; w++) {
      const word = words[w] as string;
      if (word === '-X' || word === '--request') method = words[++w];
      else if (word === '-H' || word === '--header') {
        const h = words[++w] as string;
        const colon = h.indexOf(':');
        headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
      } else if (word === '-d' || word === '--data') body = words[++w];
      else if (word.startsWith('-')) assert.fail(`a curl option this test does not know: ${word}`);
      else url = word;
    }
    assert.ok(url, `a URL in ${command}`);
    const m = method ?? (body === undefined ? 'GET' : 'POST');
    const u = new URL(/^[a-z]+:\/\//.test(url) ? url : `http://${url}`); // curl's default scheme
    calls.push({ name: `${m} ${u.pathname}${u.search}`, method: m, url: u, headers, body });
  }
  return calls;
}

interface CdnExample {
  /** The sentence that introduces it ("This example BLOCKs ..."). */
  says: string;
  /** The block as the document prints it. */
  text: string;
}

/** Every `"security" : { ... }` example, with the sentence before it. */
function cdnExamples(text: string): CdnExample[] {
  const out: CdnExample[] = [];
  for (const m of text.matchAll(/^"security" : \{\n[\s\S]*?\n\}$/gm)) {
    const before = text.slice(0, m.index).trimEnd().split('\n');
    const says = [...before].reverse().find((l) => l.startsWith('This example'));
    assert.ok(says, 'each example is introduced by "This example ..."');
    out.push({ says, text: m[0] });
  }
  return out;
}

/** The example's security_filter block (YAML reads the document's JSON: its unquoted key and trailing comma). */
function securityFilterOf(example: CdnExample): SecurityFilter {
  const doc = parseYaml(example.text) as { security: { security_filter: SecurityFilter } };
  return doc.security.security_filter;
}

/** The example's `"security_filter" : {...}` lines, moved into FlatRun's block (two spaces in, as its keys are). */
function pastedIntoFlatRun(flatRun: string, example: CdnExample): string {
  const inner = example.text.split('\n').slice(1, -1);
  const indent = Math.min(...inner.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)?.[0].length ?? 0));
  return `${flatRun}\n${inner.map((l) => `  ${l.slice(indent)}`).join('\n')}`;
}

// ---- What each example must do, in the documents' order ----

interface Expected {
  /** The document's sentence, so a changed example does not meet an old expectation. */
  says: RegExp;
  /** Client → status at nginx. */
  answers: Record<string, number>;
}

const CDN_EFFECTS: Expected[] = [
  {
    says: /BLOCKs all IPs in the range 172\.19\.0\.0\/23 except for 172\.19\.0\.2:$/,
    answers: { '172.19.0.1': 403, '172.19.0.0': 403, '172.19.1.255': 403, '172.19.0.2': 200, '172.19.2.0': 200, '172.18.255.255': 200, '192.0.2.1': 200 },
  },
  {
    says: /BLOCKs all IPs except for 172\.19\.0\.2 with a custom status code 401:$/,
    answers: { '172.19.0.2': 200, '172.19.0.1': 401, '192.0.2.1': 401, '10.1.2.3': 401, '127.0.0.1': 401 },
  },
  {
    says: /blocks one IP range and whitelists some IPs in that range:$/,
    answers: { '172.19.0.2': 200, '172.19.0.12': 200, '172.19.0.1': 403, '172.19.0.13': 403, '172.19.1.0': 403, '172.19.2.1': 200 },
  },
];

describe('the documented examples, verbatim, at a real nginx', () => {
  let nginx: TestNginx;
  let rt: Runtime | undefined;
  const flatRun = flatRunSecurityBlock(FLATRUN);
  const examples = cdnExamples(CDN);

  // Where nginx sends its access log: the FlatRun runtime's ingester (the CDN runtimes do not listen).
  let syslogPort = 0;
  before(async () => {
    syslogPort = await freePort();
    nginx = await startTestNginx({ controlPort: await freePort(), controlSecret: SECRET, syslog: `127.0.0.1:${syslogPort}` });
  });
  after(async () => {
    await rt?.stop();
    await nginx?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The test's own sections (storage, bus, API token, the node) after the document's block. Each runtime gets a fresh database. */
  const configOf = (securityBlock: string, ingest = false): Config => {
    const database = uniqueName('docex').replace(/[^A-Za-z0-9_]/g, '_');
    const yaml = [
      securityBlock,
      `kafka: { brokers: [], topic_prefix: "${prefix}" }`,
      `clickhouse: { database: ${database} }`,
      ingest ? `ingest: { udp: { enabled: true, host: 127.0.0.1, port: ${syslogPort} } }` : 'ingest: { udp: { enabled: false } }',
      `api: { port: 0, tokens: [{ name: ops, role: admin, hash: "${hashToken(TOKEN)}" }] }`,
      `nodes: [{ name: edge-1, url: "${nginx.controlUrl as string}", secret_env: DOCEX_SECRET }]`,
      `data_dir: ${JSON.stringify(dataDir)}`,
      'log_level: warn',
    ].join('\n');
    return loadConfig({ text: yaml, env: clickHouseEnv({ DOCEX_SECRET: SECRET }) });
  };
  const restart = async (config: Config, services: ServiceName[] = ['api', 'sink', 'enforcer']): Promise<Runtime> => {
    await rt?.stop();
    rt = undefined;
    rt = await startRuntime(config, new Set(services));
    return rt;
  };
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: { data?: unknown } }> => {
    const res = await fetch(`http://127.0.0.1:${rt?.apiPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as { data?: unknown } };
  };
  const edge = (client: string, path = '/', headers: Record<string, string> = {}): Promise<NginxAnswer> => nginxRequest({ port: nginx.port, path, client, headers });
  /** Waits until nginx answers every client as expected (the enforcer pushes within a second). */
  const answers = async (what: string, want: Record<string, number>, path = '/', headers: Record<string, string> = {}): Promise<void> => {
    const t0 = Date.now();
    let got: Record<string, number> = {};
    while (Date.now() - t0 < 15_000) {
      got = {};
      for (const client of Object.keys(want)) got[client] = (await edge(client, path, headers)).status;
      if (Object.keys(want).every((c) => got[c] === want[c])) return;
      await sleep(25);
    }
    assert.deepEqual(got, want, `${what}: nginx's answers (client → status)`);
  };

  test('the CDN document has the examples this test knows, in order', () => {
    assert.deepEqual(examples.map((e, i) => CDN_EFFECTS[i]?.says.test(e.says) ?? false), examples.map(() => true), `the examples' sentences: ${JSON.stringify(examples.map((e) => e.says))}`);
    assert.equal(examples.length, CDN_EFFECTS.length);
  });

  describe('CDN: each security_filter example pasted as the config file, as written', () => {
    for (const [i, example] of examples.entries()) {
      test(`example ${i + 1}: ${example.says}`, async () => {
        const expected = CDN_EFFECTS[i] as Expected;
        // The document's block alone, then the test's own sections: the whole file.
        const config = configOf(example.text);
        const filter = securityFilterOf(example);
        assert.deepEqual(configRuleSet(config), { version: 1, property: filter }, 'its security_filter is the property level');
        assert.deepEqual(
          configRuleSet(configOf(pastedIntoFlatRun(flatRun, example))),
          { version: 1, property: filter },
          'and likewise inside FlatRun\'s security: block, both documents in one file',
        );
        const runtime = await restart(config);
        // The one rule set: what nodes are given is what the detectors evaluate.
        assert.deepEqual(runtime.control.ruleSet()?.property, filter);
        assert.deepEqual(runtime.control.nodeRules().security_filter?.property, filter);
        await answers(example.says, expected.answers);
        const composed = await api('GET', '/api/security/filter/property');
        assert.equal(composed.status, 200);
        assert.deepEqual(composed.body.data, { level: 'property', security_filter: filter, source: 'config' });
      });
    }

    test('a level set through the API replaces the config\'s of the same scope; removed, the config\'s applies again', async () => {
      // The runtime holds the last example from its config file.
      const fromConfig = CDN_EFFECTS[examples.length - 1] as Expected;
      const other = 1;
      assert.equal((await api('PUT', '/api/security/filter/property', { security_filter: securityFilterOf(examples[other] as CdnExample) })).status, 200);
      await answers('the API\'s property level', (CDN_EFFECTS[other] as Expected).answers);
      const del = await api('DELETE', '/api/security/filter/property');
      assert.equal(del.status, 200);
      await answers('the config\'s property level again', fromConfig.answers);
      assert.equal((await api('DELETE', '/api/security/filter/property')).status, 404, 'the config file\'s level is not removed through the API');
    });
  });

  describe('FlatRun: its security: block as the config, every curl call as written', () => {
    const calls = curlCalls(FLATRUN, { TOKEN });
    const my = { host: 'my-app' };
    const basic = (credentials: string) => ({ ...my, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });
    /** What each call must do, by its method and path, in the document's order. */
    /** Runs the document's call again until `holds` is true of its answer's data (what the pipeline stores arrives within seconds). */
    let rerun: (holds: (data: unknown) => boolean) => Promise<unknown> = () => Promise.reject(new Error('no call ran'));
    const effects: Array<{ call: string; status: number; check: (data: unknown) => Promise<void> | void }> = [
      {
        call: 'POST /api/security/blocked-ips',
        status: 201,
        check: async () => answers('the blocked address is refused, its neighbour is not', { '192.168.1.100': 403, '192.168.1.101': 200 }),
      },
      {
        call: 'DELETE /api/security/blocked-ips/192.168.1.100',
        status: 200,
        check: async () => answers('unblocked', { '192.168.1.100': 200 }),
      },
      {
        call: 'POST /api/security/protected-routes',
        status: 201,
        check: async () => {
          await answers('my-app\'s /admin asks for credentials', { '192.0.2.10': 401 }, '/admin', my);
          assert.match(String((await edge('192.0.2.10', '/admin', my)).headers['www-authenticate']), /^Basic /);
          assert.equal((await edge('192.0.2.10', '/admin', basic('admin:secret'))).status, 200, 'the documented credentials pass');
          // Wrong credentials, as often as the block's auth_failure_threshold: an auth_failed event (below).
          for (let n = 0; n < (rt?.config.security.auth_failure_threshold ?? 5); n++) {
            assert.equal((await edge('192.0.2.10', '/admin', basic('admin:wrong'))).status, 401);
          }
          assert.equal((await edge('192.0.2.10', '/admin')).status, 200, 'another deployment\'s /admin is not protected');
        },
      },
      {
        call: 'POST /api/security/whitelist',
        status: 201,
        check: async (data) => {
          assert.deepEqual({ ...(data as Record<string, unknown>), id: undefined, created_at: undefined, created_by: undefined }, {
            id: undefined, type: 'cidr', value: '10.0.0.0/8', description: 'Internal network', deployment: '', created_at: undefined, created_by: undefined,
          }, 'an ip entry naming a range is stored as the range');
          // Whitelisted addresses bypass security checks: the protected route too.
          await answers('10.0.0.0/8 bypasses the protected route', { '10.1.2.3': 200, '192.0.2.10': 401 }, '/admin', my);
        },
      },
      {
        call: 'GET /api/security/events?limit=50',
        status: 200,
        check: async (data) => {
          assert.ok(Array.isArray(data), 'a list of events');
          // "auth_failed: Failed authentication attempt": the wrong credentials on my-app's protected
          // route, as nginx logged them, through the ingester and the detectors into the events table.
          const events = (await rerun((d) => (d as Array<{ type: string; ip: string }>).some((e) => e.type === 'auth_failed' && e.ip === '192.0.2.10'))) as Array<{ type: string; ip: string; deployment: string; sample_paths: string[] }>;
          const failed = events.find((e) => e.type === 'auth_failed' && e.ip === '192.0.2.10');
          assert.equal(failed?.deployment, 'my-app');
          assert.deepEqual(failed?.sample_paths, ['/admin']);
        },
      },
      {
        call: 'PUT /api/security/realtime-capture',
        status: 200,
        check: async () => {
          assert.equal(rt?.state.capture, true, 'capture is on');
          assert.equal(((await api('GET', '/api/security/config')).body.data as { realtime_capture: boolean }).realtime_capture, true);
        },
      },
      {
        call: 'PUT /api/deployments/my-app/security',
        status: 200,
        check: async () => {
          // allowed_ips: only 10.0.0.0/8 reaches my-app; other deployments are untouched.
          await answers('my-app admits only 10.0.0.0/8', { '192.0.2.11': 403, '10.1.2.3': 200 }, '/', my);
          assert.equal((await edge('192.0.2.11')).status, 200, 'another deployment admits it');
        },
      },
      {
        call: 'POST /api/security/refresh',
        status: 200,
        check: async () => answers('everything still enforced after the re-push', { '192.0.2.11': 403, '10.1.2.3': 200 }, '/', my),
      },
      {
        call: 'GET /api/security/stats',
        status: 200,
        check: (data) => {
          // The document's list: events by type, blocked IPs, recent threats, top offending IPs.
          const stats = data as { events_by_type: Record<string, number>; blocked_ips: number; recent_threats: Array<{ ip: string }>; top_offending_ips: Array<{ ip: string }> };
          for (const key of ['total_events', 'events_by_type', 'blocked_ips', 'recent_threats', 'top_offending_ips']) assert.ok(key in stats, `stats has ${key}`);
          assert.equal(stats.blocked_ips, 0, 'the one block was lifted');
          assert.ok((stats.events_by_type.auth_failed ?? 0) >= 1, 'auth_failed events counted');
          assert.ok(stats.recent_threats.some((e) => e.ip === '192.0.2.10'), 'the failed logins among the recent threats');
          assert.ok(stats.top_offending_ips.some((o) => o.ip === '192.0.2.10'), 'and their address among the top offenders');
        },
      },
      {
        call: 'POST /api/security/cleanup',
        status: 200,
        check: (data) => {
          // older_than 604800 s: what is older than 7 days is gone.
          const cutoff = (data as { cutoff: number }).cutoff;
          assert.ok(Math.abs(Date.now() - 604_800_000 - cutoff) < 60_000, `the cutoff is 7 days ago (${new Date(cutoff).toISOString()})`);
        },
      },
    ];

    test('the document has the calls this test knows, in order', () => {
      assert.deepEqual(calls.map((c) => c.name), effects.map((e) => e.call));
      for (const c of calls) {
        assert.equal(c.url.origin, 'http://localhost:8090', `${c.name}: the API's documented address`);
        assert.equal(c.headers.authorization, `Bearer ${TOKEN}`, `${c.name}: $TOKEN`);
      }
    });

    test('the README\'s Management API examples are these calls, one per line', () => {
      const readme = readFileSync(join(root, 'README.md'), 'utf8');
      const block = /```sh\nH="Authorization: Bearer \$TOKEN"\n([\s\S]*?)```/.exec(readme);
      assert.ok(block, 'the README\'s block of FlatRun calls');
      const same = (c: CurlCall) => ({ name: c.name, origin: c.url.origin, headers: c.headers, body: c.body === undefined ? undefined : JSON.parse(c.body) as unknown });
      const inReadme = curlCalls(block[1] as string, { H: `Authorization: Bearer ${TOKEN}` });
      assert.deepEqual(inReadme.map(same), calls.map(same));
    });

    test('its security: block, with its comment, is the config', async () => {
      assert.match(flatRun, /^ {2}# Detection thresholds$/m, 'the block keeps its comment');
      const config = configOf(flatRun, true);
      const doc = (parseYaml(flatRun) as { security: Record<string, unknown> }).security;
      assert.equal(config.security.rate_threshold, doc.rate_threshold);
      assert.equal(config.security.auto_block_duration_ms, 86_400_000);
      assert.equal(config.security.detection_window_ms, 120_000);
      // The whole pipeline, so events come from what nginx logged: syslog → ingester → detector → sink.
      await restart(config, ['api', 'sink', 'enforcer', 'detector', 'ingester']);
    });

    for (const [i, call] of calls.entries()) {
      test(call.name, async () => {
        const effect = effects[i];
        assert.ok(effect && effect.call === call.name, `the document's call ${i + 1} is ${call.name}`);
        const run = async (): Promise<{ status: number; body: { data?: unknown; error?: string } }> => {
          const res = await fetch(`http://127.0.0.1:${rt?.apiPort}${call.url.pathname}${call.url.search}`, {
            method: call.method,
            headers: call.headers,
            ...(call.body === undefined ? {} : { body: call.body }),
          });
          return { status: res.status, body: (await res.json()) as { data?: unknown; error?: string } };
        };
        const { status, body } = await run();
        assert.equal(status, effect.status, `${call.name}: ${JSON.stringify(body)}`);
        rerun = async (holds) => {
          const t0 = Date.now();
          let data = body.data;
          while (!holds(data)) {
            assert.ok(Date.now() - t0 < 30_000, `${call.name}: still ${JSON.stringify(data)}`);
            await sleep(250);
            data = (await run()).body.data;
          }
          return data;
        };
        await effect.check(body.data);
      });
    }

    test('the deployment\'s blocked path and rate limit, once the whitelist no longer covers 10.0.0.0/8', async () => {
      const list = (await api('GET', '/api/security/whitelist')).body.data as Array<{ id: string; value: string }>;
      const entry = list.find((w) => w.value === '10.0.0.0/8');
      assert.ok(entry);
      assert.equal((await api('DELETE', `/api/security/whitelist/${entry.id}`)).status, 200);
      await answers('/wp-admin is refused at my-app', { '10.1.2.3': 403 }, '/wp-admin', my);
      assert.equal((await edge('10.1.2.3', '/', my)).status, 200);
      // rate_limit 50: requests per second per client address; over it, 429.
      const statuses = await Promise.all(Array.from({ length: 120 }, () => edge('10.1.2.4', '/', my).then((a) => a.status)));
      assert.ok(statuses.includes(429), `over 50 requests a second get 429 (got ${[...new Set(statuses)].join(', ')})`);
      assert.ok(statuses.includes(200));
    });

    describe('CDN: each security_filter example submitted through the API\'s filter endpoint', () => {
      for (const [i, example] of examples.entries()) {
        test(`example ${i + 1}: ${example.says}`, async () => {
          const filter = securityFilterOf(example);
          const put = await api('PUT', '/api/security/filter/property', { security_filter: filter });
          assert.equal(put.status, 200, JSON.stringify(put.body));
          await answers(example.says, (CDN_EFFECTS[i] as Expected).answers);
          assert.deepEqual((await api('GET', '/api/security/filter')).body.data, { ...(rt?.control.ruleSet() ?? {}), property: filter });
        });
      }

      // The document describes rules it gives no example of: these rules are ours, each
      // sentence they stand for quoted, so a changed sentence fails here too.
      test('the rules the document describes without an example: user agents, COUNTRY_CODE, WARN by default (the alert), in its UA, Geo, IP order', async () => {
        for (const sentence of [
          'For user agents this is a list of one or more strings (exact or wildcard)',
          'for geographical locations this is a list of one or more key/value pairs for geo variables (typically COUNTRY_CODE with the desired code string)',
          'The default, when no reponse_handling block is present, is WARN.',
          'The security block in the access log will have the rule ID in the security_filter_alert field.',
          'UA filters must precede Geo filters, which must precede IP filters.',
        ]) assert.ok(CDN.replace(/\s+/gu, ' ').includes(sentence), `the document says: ${sentence}`);
        const filter: SecurityFilter = {
          enabled: true,
          filter_rules: [
            { id: 'ua_warn', match: { user_agents: ['*curl*'] } },
            { id: 'ua_block', match: { user_agents: ['BadBot'] }, response_handling: { on_filtered: 'BLOCK' } },
            { id: 'geo_block', match: { geo: [{ COUNTRY_CODE: 'RU' }] }, except: { ips: ['172.19.0.2'] }, response_handling: { on_filtered: 'BLOCK', block_http_status: 451 } },
            { id: 'ip_warn', match: { ips: ['172.19.0.0/23'] } },
          ],
        };
        assert.equal((await api('PUT', '/api/security/filter/property', { security_filter: filter })).status, 200);
        const country = (cc: string) => ({ 'x-logwarden-test-country': cc });
        await answers('a BLOCK on an exact user agent', { '192.0.2.30': 403 }, '/', { 'user-agent': 'BadBot' });
        assert.equal((await edge('192.0.2.30', '/', { 'user-agent': 'BadBot/2.0' })).status, 200, 'exact means exact');
        const warned = await edge('192.0.2.30', '/', { 'user-agent': 'curl/8.5.0' });
        assert.equal(warned.status, 200, 'a WARN passes');
        assert.equal(warned.headers['x-logwarden-test-alert'], 'ua_warn', 'and names its rule in $security_filter_alert');
        assert.equal((await edge('172.19.0.1')).headers['x-logwarden-test-alert'], 'ip_warn');
        assert.equal((await edge('192.0.2.30')).headers['x-logwarden-test-alert'], undefined, 'no rule, no alert');
        await answers('a geo BLOCK with its status', { '192.0.2.31': 451, '172.19.0.2': 200 }, '/', country('RU'));
        assert.equal((await edge('192.0.2.31', '/', country('DE'))).status, 200);
        // The alert in the access log reaches the detectors: a suspicious event named after the rule.
        const t0 = Date.now();
        for (;;) {
          const events = (await api('GET', '/api/security/events?type=suspicious&ip=192.0.2.30')).body.data as Array<{ detector: string }>;
          if (events.some((e) => e.detector === 'filter:ua_warn')) break;
          assert.ok(Date.now() - t0 < 20_000, `no filter:ua_warn event: ${JSON.stringify(events)}`);
          await edge('192.0.2.30', '/', { 'user-agent': 'curl/8.5.0' });
          await sleep(250);
        }
      });
    });
  });
});
