// The management API over real HTTP, against the real wiring (`startRuntime`):
// embedded ClickHouse (or CLICKHOUSE_URL), the in-process bus, and once the
// real Kafka broker. FlatRun's documented calls are sent byte for byte.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { blockDecisionCodec, controlChangeCodec, securityEventCodec } from '../../shared/avro/codec.js';
import type { BusMessage } from '../../shared/bus/types.js';
import { loadConfig, type Config } from '../../shared/config/load.js';
import { parseDuration } from '../../shared/config/duration.js';
import { verifyCredential } from '../../shared/credential-hash.js';
import type { BlockDecision, SecurityEvent } from '../../shared/records.js';
import { blockRow } from '../sink/index.js';
import { kafkaBrokers, unitOnly, uniqueName } from '../../shared/testing/kafka.js';
import { startRuntime, type Runtime } from '../runtime.js';
import { hashToken } from '../../shared/auth/tokens.js';
import { API_ERRORS } from './errors.js';
import { until } from '../../shared/testing/wait.js';
import { clickHouseEnv } from '../../shared/clickhouse/testing.js';

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-api-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const ADMIN = 'lw_test-admin-token-0123456789abcdef';
const ANALYST = 'lw_test-analyst-token-0123456789abcdef';
const database = uniqueName('api').replace(/[^A-Za-z0-9_]/g, '_');

function apiConfig(extra: string[] = [], brokers: string[] = []): Config {
  const yaml = [
    `kafka: { brokers: ${JSON.stringify(brokers)}, topic_prefix: "${uniqueName('api')}.", partitions: 2, linger: 5ms }`,
    `clickhouse: { database: ${database} }`,
    'ingest: { udp: { enabled: false } }',
    'api:',
    '  port: 0',
    '  auth_failures_per_minute: 5',
    '  tokens:',
    `    - { name: ops, role: admin, hash: "${hashToken(ADMIN)}" }`,
    `    - { name: soc, role: analyst, hash: "${hashToken(ANALYST)}" }`,
    'detection: { whitelist: { cidrs: ["172.16.0.0/12"] } }',
    `data_dir: ${JSON.stringify(dataDir)}`,
    'log_level: warn',
    ...extra,
  ].join('\n');
  return loadConfig({ text: yaml, env: clickHouseEnv() });
}

interface Res {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** Calls over real HTTP; `from` picks the loopback source address (127.0.0.0/8), so the auth-failure limiter of one test does not answer another's. */
function client(rt: () => Runtime) {
  return (method: string, path: string, opts: { token?: string | null; body?: string; headers?: Record<string, string>; from?: string } = {}): Promise<Res> => {
    const token = opts.token === undefined ? ADMIN : opts.token;
    return new Promise<Res>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: rt().apiPort,
          method,
          path,
          localAddress: opts.from ?? '127.0.0.1',
          headers: {
            ...(token === null ? {} : { authorization: `Bearer ${token}` }),
            ...(opts.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(opts.body)) }),
            ...opts.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const headers = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
            let body: Record<string, unknown>;
            try {
              body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
            } catch {
              body = { raw: text };
            }
            resolve({ status: res.statusCode ?? 0, body, headers });
          });
        },
      );
      req.on('error', reject);
      if (opts.body !== undefined) req.write(opts.body);
      req.end();
    });
  };
}


describe('management API (embedded: in-process bus, embedded ClickHouse)', () => {
  let rt: Runtime;
  const call = client(() => rt);
  const decisions: BlockDecision[] = [];
  const events: SecurityEvent[] = [];

  before(async () => {
    rt = await startRuntime(apiConfig(), new Set(['api', 'sink']));
    const onBatch = <T>(into: T[], decode: (m: BusMessage) => T) => (b: { messages: BusMessage[] }) => {
      for (const m of b.messages) into.push(decode(m));
      return Promise.resolve();
    };
    await rt.bus.subscribe({ groupId: 'probe-decisions', topics: [rt.topics.decisions], fromBeginning: true, onBatch: onBatch(decisions, (m) => blockDecisionCodec.decode(m.value)) });
    await rt.bus.subscribe({ groupId: 'probe-events', topics: [rt.topics.events], fromBeginning: true, onBatch: onBatch(events, (m) => securityEventCodec.decode(m.value)) });
  });
  after(async () => {
    await rt.stop();
  });

  // ---------------------------------------------------------------- FlatRun's calls, as documented
  test('POST /api/security/blocked-ips, then the block is listed, published and expires after its duration', async () => {
    const before = Date.now();
    const r = await call('POST', '/api/security/blocked-ips', { body: '{"ip":"192.168.1.100","reason":"Suspicious activity","duration":86400}' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const data = r.body.data as Record<string, unknown>;
    assert.equal(data.ip, '192.168.1.100');
    assert.equal(data.reason, 'Suspicious activity');
    assert.equal(data.source, 'manual');
    const expires = data.expires_at as number;
    assert.ok(expires >= before + 86_400_000 && expires <= Date.now() + 86_400_000, `expires_at ${expires} is a day out`);
    // Read your writes: the next GET shows it.
    const list = await call('GET', '/api/security/blocked-ips?limit=50', { token: ANALYST });
    assert.equal(list.status, 200);
    assert.ok((list.body.data as Array<{ ip: string }>).some((b) => b.ip === '192.168.1.100'), 'listed');
    const one = await call('GET', '/api/security/blocked-ips/192.168.1.100', { token: ANALYST });
    assert.equal(one.status, 200);
    const d = await until('the decision on the bus', () => decisions.find((x) => x.ip === '192.168.1.100' && x.action === 'block'));
    assert.equal(d.expires_at, expires);
    // Who: the token's name, through to the blocks history's actor column.
    assert.equal(d.actor, 'api:ops');
    assert.equal((blockRow(d) as { actor: string }).actor, 'api:ops');
  });

  test('DELETE /api/security/blocked-ips/192.168.1.100 lifts the block; a second DELETE is 404', async () => {
    await call('POST', '/api/security/blocked-ips', { body: '{"ip":"192.168.1.100","reason":"Suspicious activity","duration":86400}' });
    const r = await call('DELETE', '/api/security/blocked-ips/192.168.1.100');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.data, { ip: '192.168.1.100', unblocked: true });
    const one = await call('GET', '/api/security/blocked-ips/192.168.1.100');
    assert.equal(one.status, 404);
    assert.equal(one.body.code, 'LW_API_NOT_FOUND');
    const lifted = await until('the unblock on the bus', () => decisions.find((x) => x.ip === '192.168.1.100' && x.action === 'unblock'));
    assert.equal(lifted.actor, 'api:ops');
    const again = await call('DELETE', '/api/security/blocked-ips/192.168.1.100');
    assert.equal(again.status, 404);
  });

  test('POST /api/security/protected-routes stores a salted hash, never returns or publishes the credential', async () => {
    const r = await call('POST', '/api/security/protected-routes', { body: '{"path":"/admin","method":"ALL","auth_type":"basic","credentials":"admin:secret","deployment":"my-app"}' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const data = r.body.data as Record<string, unknown>;
    assert.equal(data.path, '/admin');
    assert.equal(data.method, 'ALL');
    assert.equal(data.auth_type, 'basic');
    assert.equal(data.deployment, 'my-app');
    assert.ok(!JSON.stringify(r.body).includes('secret'), 'credential not in the response');
    assert.ok(!('credential_hash' in data), 'hash not in the response');
    const list = await call('GET', '/api/security/protected-routes', { token: ANALYST });
    assert.ok(!JSON.stringify(list.body).includes('secret') && !JSON.stringify(list.body).includes('pbkdf2'), 'no credential or hash in the list');
    assert.ok((list.body.data as Array<{ id: string }>).some((x) => x.id === data.id));
    // At rest: only the hash, and it verifies.
    const ch = rt.ch;
    assert.ok(ch);
    const rows = await ch.query<{ credential_hash: string }>(`SELECT credential_hash FROM ${ch.table('control_routes')} FINAL WHERE id = {id:String}`, { id: data.id });
    assert.equal(rows.length, 1);
    const hash = rows[0]?.credential_hash ?? '';
    assert.ok(!hash.includes('secret'));
    assert.ok(verifyCredential('admin:secret', hash) && !verifyCredential('admin:wrong', hash), 'the stored hash verifies the credential');
    // On the wire to the enforcers: the hash only.
    const rules = JSON.stringify(rt.control.nodeRules());
    assert.ok(rules.includes(hash) && !rules.includes('admin:secret'));
  });

  test('POST /api/security/whitelist, then blocking a whitelisted address is refused unless forced', async () => {
    // FlatRun's documentation, verbatim: an "ip" entry naming a range is stored as the range.
    const r = await call('POST', '/api/security/whitelist', { body: '{\n    "type": "ip",\n    "value": "10.0.0.0/8",\n    "description": "Internal network"\n  }' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const entry = r.body.data as Record<string, unknown>;
    assert.deepEqual({ type: entry.type, value: entry.value, description: entry.description }, { type: 'cidr', value: '10.0.0.0/8', description: 'Internal network' });
    const ip = await call('POST', '/api/security/whitelist', { body: '{"type":"ip","value":"203.0.113.50"}' });
    assert.equal(ip.status, 201);
    const path = await call('POST', '/api/security/whitelist', { body: '{"type":"path","value":"/health"}' });
    assert.equal(path.status, 201);
    const refused = await call('POST', '/api/security/blocked-ips', { body: '{"ip":"10.1.2.3","reason":"x"}' });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, 'LW_API_WHITELISTED');
    assert.equal(refused.body.field, 'ip');
    const fromConfig = await call('POST', '/api/security/blocked-ips', { body: '{"ip":"172.16.5.5"}' });
    assert.equal(fromConfig.status, 409, 'config detection.whitelist counts too');
    const forced = await call('POST', '/api/security/blocked-ips', { body: '{"ip":"10.1.2.3","reason":"x","force":true}' });
    assert.equal(forced.status, 201);
    const list = await call('GET', '/api/security/whitelist?type=cidr', { token: ANALYST });
    assert.deepEqual((list.body.data as Array<{ value: string }>).map((e) => e.value), ['10.0.0.0/8']);
    const del = await call('DELETE', `/api/security/whitelist/${String(ip.body.data && (ip.body.data as { id: string }).id)}`);
    assert.equal(del.status, 200);
    const gone = await call('GET', `/api/security/whitelist/${(ip.body.data as { id: string }).id}`);
    assert.equal(gone.status, 404);
    const nodeWl = rt.control.nodeRules().whitelist;
    assert.deepEqual(nodeWl, { ips: ['10.0.0.0/8'], paths: ['/health'] });
  });

  test('the caller cannot block its own address by accident', async () => {
    const r = await call('POST', '/api/security/blocked-ips', { body: '{"ip":"127.0.0.0/8"}' });
    assert.equal(r.status, 409);
    assert.equal(r.body.code, 'LW_API_SELF_BLOCK');
  });

  test('GET /api/security/events?limit=50 pages newest first with a stable cursor', async () => {
    const ch = rt.ch;
    assert.ok(ch);
    const now = Date.now();
    const rows = Array.from({ length: 120 }, (_, i) => ({
      id: `api-ev-${String(i).padStart(3, '0')}`, ts: now - i * 1000, type: i % 2 ? 'scan_detected' : 'auth_failed', detector: i % 2 ? 'unique_paths' : 'auth_failure',
      ip: `198.51.100.${i % 7}`, deployment: 'my-app', count: 1, window_start: now - 120_000, window_end: now, sample_paths: ['/x'], details: {},
    }));
    await ch.insert('events', rows);
    const first = await call('GET', '/api/security/events?limit=50', { token: ANALYST });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const page1 = first.body.data as Array<{ id: string; ts: number }>;
    assert.equal(page1.length, 50);
    assert.equal(page1[0]?.id, 'api-ev-000');
    for (let i = 1; i < page1.length; i++) assert.ok((page1[i - 1] as { ts: number }).ts >= (page1[i] as { ts: number }).ts, 'newest first');
    // New events arriving between pages must not shift the next page.
    await ch.insert('events', [{ ...rows[0], id: 'api-ev-new', ts: now + 1000 }]);
    const seen = new Set(page1.map((e) => e.id));
    let cursor = first.body.next_cursor as string | null;
    while (cursor) {
      const next = await call('GET', `/api/security/events?limit=50&cursor=${encodeURIComponent(cursor)}`, { token: ANALYST });
      assert.equal(next.status, 200);
      for (const e of next.body.data as Array<{ id: string }>) {
        assert.ok(!seen.has(e.id), `${e.id} seen twice`);
        seen.add(e.id);
      }
      cursor = next.body.next_cursor as string | null;
    }
    assert.equal([...seen].filter((id) => id.startsWith('api-ev-0') || id.startsWith('api-ev-1')).length, 120, 'every event once');
    const filtered = await call('GET', '/api/security/events?type=auth_failed&ip=198.51.100.0/30&deployment=my-app&limit=1000', { token: ANALYST });
    const f = filtered.body.data as Array<{ type: string; ip: string }>;
    assert.ok(f.length > 0 && f.every((e) => e.type === 'auth_failed' && /^198\.51\.100\.[0-3]$/.test(e.ip)));
    const bad = await call('GET', '/api/security/events?cursor=not-a-cursor', { token: ANALYST });
    assert.equal(bad.status, 400);
  });

  test('PUT /api/security/realtime-capture switches capture, durably', async () => {
    const r = await call('PUT', '/api/security/realtime-capture', { body: '{"enabled":true}' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.data, { enabled: true });
    assert.equal(rt.state.capture, true);
    const g = await call('GET', '/api/security/realtime-capture', { token: ANALYST });
    assert.deepEqual(g.body.data, { enabled: true });
    const off = await call('PUT', '/api/security/realtime-capture', { body: '{"enabled":false}' });
    assert.equal(off.status, 200);
    assert.equal(rt.state.capture, false);
    const tail = await call('GET', '/api/security/requests/stream', { token: ANALYST });
    assert.equal(tail.status, 409);
    assert.equal(tail.body.code, 'LW_API_CAPTURE_OFF');
  });

  test('PUT /api/deployments/my-app/security sets the policy the nodes get', async () => {
    const r = await call('PUT', '/api/deployments/my-app/security', { body: '{"enabled":true,"rate_limit":50,"allowed_ips":["10.0.0.0/8"],"blocked_paths":["/wp-admin"]}' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const d = r.body.data as Record<string, unknown>;
    assert.deepEqual({ enabled: d.enabled, rate_limit: d.rate_limit, allowed_ips: d.allowed_ips, blocked_paths: d.blocked_paths }, { enabled: true, rate_limit: 50, allowed_ips: ['10.0.0.0/8'], blocked_paths: ['/wp-admin'] });
    assert.deepEqual(rt.control.nodeRules().deployments['my-app'], { enabled: true, rate_limit: 50, allowed_ips: ['10.0.0.0/8'], blocked_paths: ['/wp-admin'] });
    const g = await call('GET', '/api/deployments/my-app/security', { token: ANALYST });
    assert.equal(g.status, 200);
    const all = await call('GET', '/api/security/deployments', { token: ANALYST });
    assert.ok((all.body.data as Array<{ name: string }>).some((x) => x.name === 'my-app'));
  });

  test('POST /api/security/refresh answers (no enforcer here) and publishes the request', async () => {
    const before = rt.control.versionOf('setting', 'refresh');
    const r = await call('POST', '/api/security/refresh');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((r.body.data as { refreshed: boolean }).refreshed, true);
    assert.ok(rt.control.versionOf('setting', 'refresh') > before);
  });

  test('GET /api/security/stats has events by type, blocked IP count, recent threats, top offending IPs', async () => {
    const r = await call('GET', '/api/security/stats', { token: ANALYST });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const s = r.body.data as Record<string, unknown>;
    for (const k of ['events_by_type', 'blocked_ips', 'recent_threats', 'top_offending_ips']) assert.ok(k in s, k);
    assert.equal(typeof s.blocked_ips, 'number');
    assert.ok((s.blocked_ips as number) >= 1, 'the forced block of 10.1.2.3 counts');
    const ts = await call('GET', '/api/security/stats/timeseries?step=minute&from=' + String(Date.now() - 3_600_000), { token: ANALYST });
    assert.equal(ts.status, 200, JSON.stringify(ts.body));
  });

  test('POST /api/security/cleanup {"older_than":604800} removes events older than a week', async () => {
    const ch = rt.ch;
    assert.ok(ch);
    const old = Date.now() - 10 * 86_400_000;
    await ch.insert('events', [{ id: 'api-old', ts: old, type: 'suspicious', detector: 'rate', ip: '192.0.2.9', deployment: '', count: 1, window_start: old, window_end: old, sample_paths: [], details: {} }]);
    const r = await call('POST', '/api/security/cleanup', { body: '{"older_than":604800}' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const left = await ch.query<{ n: string }>(`SELECT count() AS n FROM ${ch.table('events')} WHERE id = 'api-old'`);
    assert.equal(Number(left[0]?.n), 0);
  });

  // ---------------------------------------------------------------- validation: 400 naming the field, nothing applied
  test('invalid input gets a 400 naming the field and changes nothing', async () => {
    const cases: Array<[string, string, string, string]> = [
      ['POST', '/api/security/blocked-ips', '{"ip":"300.1.1.1"}', 'ip'],
      ['POST', '/api/security/blocked-ips', '{"ip":"10.0.0.0/33"}', 'ip'],
      ['POST', '/api/security/blocked-ips', '{"ip":"192.0.2.1","duration":-5}', 'duration'],
      ['POST', '/api/security/blocked-ips', '{"ip":"192.0.2.1","duraton":60}', 'duraton'],
      ['POST', '/api/security/blocked-ips', '{"ip":"192.0.2.1","duration":"60"}', 'duration'],
      ['POST', '/api/security/blocked-ips', '{"reason":"no ip"}', 'ip'],
      ['POST', '/api/security/protected-routes', '{"path":"/a","method":"FETCH","auth_type":"basic","credentials":"a:b"}', 'method'],
      ['POST', '/api/security/protected-routes', '{"path":"/a","method":"GET","auth_type":"digest","credentials":"a:b"}', 'auth_type'],
      ['POST', '/api/security/protected-routes', '{"path":"/a","auth_type":"basic","credentials":"nocolon"}', 'credentials'],
      ['POST', '/api/security/protected-routes', '{"path":"admin","auth_type":"basic","credentials":"a:b"}', 'path'],
      ['POST', '/api/security/whitelist', '{"type":"subnet","value":"10.0.0.0/8"}', 'type'],
      ['POST', '/api/security/whitelist', '{"type":"ip","value":"10.0.0.300"}', 'value'],
      ['PUT', '/api/deployments/my-app/security', '{"enabled":true,"allowed_ips":["10.0.0.0/8","nope"]}', 'allowed_ips[1]'],
      ['PUT', '/api/deployments/my-app/security', '{"enabled":true,"rate_limit":-1}', 'rate_limit'],
      ['PUT', '/api/security/realtime-capture', '{"enabled":"yes"}', 'enabled'],
      ['POST', '/api/security/cleanup', '{"older_than":-1}', 'older_than'],
      ['PUT', '/api/security/config', '{"auto_block_duration":"forever"}', 'auto_block_duration'],
      ['PUT', '/api/security/filter/property', '{"security_filter":{"enabled":true,"filter_rules":[{"id":"x","match":{"user_agentz":["a"]}}]}}', 'security_filter.filter_rules[0].match.user_agentz'],
    ];
    const versionBefore = rt.control.version;
    const blocksBefore = (await call('GET', '/api/security/blocked-ips?limit=1000')).body.total;
    for (const [method, url, body, field] of cases) {
      const r = await call(method, url, { body });
      assert.equal(r.status, 400, `${method} ${url} ${body}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, 'LW_API_VALIDATION', body);
      assert.equal(r.body.field, field, `${body}: ${JSON.stringify(r.body)}`);
      assert.equal(typeof r.body.error, 'string');
    }
    assert.equal(rt.control.version, versionBefore, 'no control change applied');
    assert.equal((await call('GET', '/api/security/blocked-ips?limit=1000')).body.total, blocksBefore, 'no block added');
    const q = await call('GET', '/api/security/events?limit=5000', { token: ANALYST });
    assert.equal(q.status, 400);
    assert.equal(q.body.field, 'limit');
    // Numbers that coerce to ±Infinity (the fuzzer's ?offset=-Infinity was a 500).
    for (const [url, field] of [['/api/security/blocked-ips?offset=-Infinity', 'offset'], ['/api/security/blocked-ips?limit=Infinity', 'limit'], ['/api/security/whitelist?offset=1e400', 'offset']]) {
      const r = await call('GET', url as string, { token: ANALYST });
      assert.equal(r.status, 400, `${url}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, 'LW_API_VALIDATION', url);
      assert.equal(r.body.field, field, `${url}: ${JSON.stringify(r.body)}`);
    }
    const junk = await call('POST', '/api/security/blocked-ips', { body: '{"ip":' });
    assert.equal(junk.status, 400);
    assert.equal(junk.body.code, 'LW_API_BAD_JSON');
    const proto = await call('POST', '/api/security/blocked-ips', { body: '{"ip":"192.0.2.1","__proto__":{"x":1}}' });
    assert.equal(proto.status, 400);
    const big = await call('POST', '/api/security/blocked-ips', { body: JSON.stringify({ ip: '192.0.2.1', reason: 'x'.repeat(2_000_000) }) });
    assert.equal(big.status, 413);
    assert.equal(big.body.code, 'LW_API_BODY_TOO_LARGE');
    const media = await call('POST', '/api/security/blocked-ips', { body: 'ip=1.2.3.4', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(media.status, 415);
  });

  test('security_filter levels: put, read back, compose into the nodes\' rule set, delete', async () => {
    const doc = { security_filter: { enabled: true, filter_rules: [{ id: 'scanners', match: { user_agents: ['sqlmap*'] }, response_handling: { on_filtered: 'BLOCK' } }] } };
    const r = await call('PUT', '/api/security/filter/property', { body: JSON.stringify(doc) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const d = await call('PUT', '/api/security/filter/domains/Shop.Example', { body: JSON.stringify({ security_filter: { enabled: false } }) });
    assert.equal(d.status, 200, JSON.stringify(d.body));
    const p = await call('PUT', '/api/security/filter/paths', { body: JSON.stringify({ host: 'shop.example', path: '/admin', security_filter: { enabled: true, filter_rules: [{ id: 'office', match: { ips: ['0.0.0.0/0'] }, except: { ips: ['198.51.100.0/24'] } }] } }) });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    const whole = await call('GET', '/api/security/filter', { token: ANALYST });
    const rs = whole.body.data as Record<string, unknown>;
    assert.deepEqual(Object.keys(rs.domains as object), ['shop.example']);
    assert.equal((rs.paths as unknown[]).length, 1);
    assert.deepEqual(rt.control.nodeRules().security_filter?.property, doc.security_filter);
    const gp = await call('GET', '/api/security/filter/paths?host=shop.example&path=/admin', { token: ANALYST });
    assert.equal(gp.status, 200);
    const del = await call('DELETE', '/api/security/filter/paths?host=shop.example&path=/admin');
    assert.equal(del.status, 200);
    assert.equal((await call('GET', '/api/security/filter/paths?host=shop.example&path=/admin')).status, 404);
  });

  test('GET/PUT /api/security/config: effective settings, changed at run time, refused when invalid', async () => {
    const g = await call('GET', '/api/security/config', { token: ANALYST });
    assert.equal(g.status, 200);
    assert.equal(parseDuration(String((g.body.data as Record<string, unknown>).auto_block_duration)), 86_400_000, 'auto_block_duration defaults to 24h');
    const p = await call('PUT', '/api/security/config', { body: '{"auto_block_duration":"2h","not_found_threshold":25}' });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    const after1 = p.body.data as Record<string, unknown>;
    assert.equal(after1.auto_block_duration, '2h');
    assert.equal(after1.not_found_threshold, 25);
    // A block without duration now follows the new auto_block_duration.
    const b = await call('POST', '/api/security/blocked-ips', { body: '{"ip":"192.0.2.77"}' });
    const exp = (b.body.data as { expires_at: number; created_at: number });
    assert.equal(exp.expires_at - exp.created_at, 2 * 3_600_000);
    const perm = await call('POST', '/api/security/blocked-ips', { body: '{"ip":"192.0.2.78","permanent":true}' });
    assert.equal((perm.body.data as { expires_at: number | null }).expires_at, null);
  });

  // ---------------------------------------------------------------- auth
  test('missing or invalid token → 401, analyst writing → 403; failures are rate limited and become auth_failed events', async () => {
    const from = '127.0.0.3';
    const none = await call('GET', '/api/security/stats', { token: null, from });
    assert.equal(none.status, 401);
    assert.equal(none.body.code, 'LW_API_UNAUTHORIZED');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    const wrong = await call('GET', '/api/security/stats', { token: 'lw_wrong', from });
    assert.equal(wrong.status, 401);
    const malformed = await call('GET', '/api/security/stats', { token: null, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' }, from });
    assert.equal(malformed.status, 401);
    const analystWrite = await call('POST', '/api/security/blocked-ips', { token: ANALYST, body: '{"ip":"192.0.2.1"}', from });
    assert.equal(analystWrite.status, 403);
    assert.equal(analystWrite.body.code, 'LW_API_FORBIDDEN');
    const unknownRoute = await call('GET', '/api/security/no-such-route', { token: null, from });
    assert.equal(unknownRoute.status, 401, 'unknown routes need a token too');
    // Five failures a minute (the test config): the fifth is refused, then the address waits, whatever it sends.
    const fifth = await call('GET', '/api/security/stats', { token: 'lw_wrong', from });
    assert.equal(fifth.status, 401);
    const limited = await call('GET', '/api/security/stats', { token: ANALYST, from });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.code, 'LW_API_TOO_MANY_AUTH_FAILURES');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    const other = await call('GET', '/api/security/stats', { token: ANALYST, from: '127.0.0.4' });
    assert.equal(other.status, 200, 'another address is not affected');
    const failures = await until('auth_failed events of the API', () => {
      const mine = events.filter((e) => e.type === 'auth_failed' && e.detector === 'api_auth' && e.ip === from);
      return mine.length >= 5 ? mine : undefined;
    });
    assert.deepEqual(new Set(failures.map((e) => e.details.reason)), new Set(['missing', 'invalid', 'malformed']));
    assert.equal(failures[0]?.deployment, 'logwarden-api');
  });

  test('every route of the OpenAPI document refuses anonymous calls (probes and the document itself excepted)', async () => {
    const doc = await call('GET', '/api/openapi.json', { token: null });
    assert.equal(doc.status, 200);
    assert.equal(doc.body.openapi, '3.0.3');
    const paths = doc.body.paths as Record<string, Record<string, { security?: unknown[]; 'x-logwarden-role'?: string; responses: object }>>;
    assert.ok(Object.keys(paths).length >= 25, `${Object.keys(paths).length} paths documented`);
    for (const must of ['/api/security/blocked-ips', '/api/security/blocked-ips/{ip}', '/api/security/protected-routes', '/api/security/whitelist', '/api/security/events', '/api/security/realtime-capture', '/api/deployments/{name}/security', '/api/security/refresh', '/api/security/stats', '/api/security/cleanup']) {
      assert.ok(paths[must], `${must} documented`);
    }
    let checked = 0;
    for (const [path, ops] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (Array.isArray(op.security) && op.security.length === 0) continue;
        assert.ok(op['x-logwarden-role'] === 'admin' || op['x-logwarden-role'] === 'analyst', `${method} ${path} has a role`);
        const url = path.replace('{ip}', '192.0.2.1').replace('{bits}', '32').replace('{id}', 'x').replace('{name}', 'my-app').replace('{host}', 'h.example');
        const anon = await call(method.toUpperCase(), url, { token: null, from: '127.0.0.5', ...(method === 'get' || method === 'delete' ? {} : { body: '{}' }) });
        assert.ok(anon.status === 401 || anon.status === 429, `${method} ${url} anonymous → ${anon.status}`);
        if (op['x-logwarden-role'] === 'admin') {
          const analyst = await call(method.toUpperCase(), url, { token: ANALYST, ...(method === 'get' || method === 'delete' ? {} : { body: '{}' }) });
          assert.equal(analyst.status, 403, `${method} ${url} as analyst`);
        }
        checked++;
      }
    }
    assert.ok(checked >= 30, `${checked} operations checked`);
  });

  test('the error table: every key equals its code, statuses are errors', () => {
    for (const [k, v] of Object.entries(API_ERRORS)) {
      assert.equal(v.code, k);
      assert.ok(v.status >= 400 && v.status < 600);
    }
  });

  test('the live event stream delivers events as they are published', async () => {
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${rt.apiPort}/api/security/events/stream?type=scan_detected`, { headers: { authorization: `Bearer ${ANALYST}` }, signal: ac.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const now = Date.now();
    const ev = (id: string, type: SecurityEvent['type']): SecurityEvent => ({ id, ts: now, type, detector: 'unique_paths', ip: '203.0.113.9', deployment: 'my-app', count: 3, window_start: now, window_end: now, sample_paths: ['/a'], details: {} });
    await sleep(100);
    await rt.bus.publish(rt.topics.events, [{ key: 'x', value: securityEventCodec.encode(ev('sse-skip', 'auth_failed')) }, { key: 'x', value: securityEventCodec.encode(ev('sse-1', 'scan_detected')) }]);
    let text = '';
    const dec = new TextDecoder();
    const deadline = Date.now() + 10_000;
    while (!text.includes('sse-1') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value);
    }
    ac.abort();
    assert.match(text, /event: security_event\ndata: \{.*"id":"sse-1"/);
    assert.ok(!text.includes('sse-skip'), 'filtered by type');
  });
});

describe('durability: a restart keeps blocks, rules and settings', () => {
  test('what the API wrote is there after the process restarts', async () => {
    const cfg = apiConfig();
    let rt = await startRuntime(cfg, new Set(['api', 'sink']));
    const call = client(() => rt);
    try {
      assert.equal((await call('POST', '/api/security/whitelist', { body: '{"type":"ip","value":"198.18.0.1","description":"kept"}' })).status, 201);
      assert.equal((await call('POST', '/api/security/protected-routes', { body: '{"path":"/kept","auth_type":"bearer","credentials":"token-0123456789"}' })).status, 201);
      assert.equal((await call('POST', '/api/security/blocked-ips', { body: '{"ip":"198.18.0.99","duration":3600}' })).status, 201);
      assert.equal((await call('PUT', '/api/security/realtime-capture', { body: '{"enabled":true}' })).status, 200);
    } finally {
      await rt.stop();
    }
    rt = await startRuntime(cfg, new Set(['api', 'sink']));
    try {
      const wl = await call('GET', '/api/security/whitelist');
      assert.ok((wl.body.data as Array<{ value: string; description: string }>).some((e) => e.value === '198.18.0.1' && e.description === 'kept'));
      const routes = await call('GET', '/api/security/protected-routes');
      assert.ok((routes.body.data as Array<{ path: string }>).some((r) => r.path === '/kept'));
      assert.equal((await call('GET', '/api/security/blocked-ips/198.18.0.99')).status, 200);
      assert.equal(rt.state.capture, true, 'capture setting restored');
      assert.ok(rt.control.nodeRules().routes.some((r) => r.path === '/kept'), 'rules for the nodes restored');
      assert.equal(statSync(rt.config.api.token_file, { throwIfNoEntry: false }), undefined, 'no token file generated when tokens are configured');
    } finally {
      await rt.stop();
    }
  });
});

describe('management API with the Kafka bus', { skip: unitOnly() }, () => {
  test('a manual block and a rule change reach the decisions and control topics of the real broker', async () => {
    const rt = await startRuntime(apiConfig([], kafkaBrokers()), new Set(['api']));
    const call = client(() => rt);
    try {
      assert.equal((await call('POST', '/api/security/blocked-ips', { body: '{"ip":"203.0.113.200","reason":"kafka"}' })).status, 201);
      assert.equal((await call('POST', '/api/security/whitelist', { body: '{"type":"ip","value":"203.0.113.201"}' })).status, 201);
      const got: { decisions: BlockDecision[]; control: string[] } = { decisions: [], control: [] };
      const s1 = await rt.bus.subscribe({ groupId: uniqueName('probe'), topics: [rt.topics.decisions], fromBeginning: true, onBatch: (b) => { for (const m of b.messages) got.decisions.push(blockDecisionCodec.decode(m.value)); return Promise.resolve(); } });
      const s2 = await rt.bus.subscribe({ groupId: uniqueName('probe'), topics: [rt.topics.control], fromBeginning: true, onBatch: (b) => { for (const m of b.messages) got.control.push(controlChangeCodec.decode(m.value).document); return Promise.resolve(); } });
      await until('decision on Kafka', () => got.decisions.find((d) => d.ip === '203.0.113.200'), 30_000);
      await until('whitelist change on Kafka', () => got.control.find((d) => d.includes('203.0.113.201')), 30_000);
      await s1.close();
      await s2.close();
    } finally {
      await rt.stop();
    }
  });
});
