// The first slice, end to end, through the same wiring `logwarden` runs:
// syslog datagram → ingester (UDP) → AccessRecord (Avro, Confluent framing) on
// the bus → sink → row in ClickHouse, read back. Against the real Kafka broker
// and the embedded ClickHouse engine (or CLICKHOUSE_URL), in-process for
// embedded mode, and finally from a real nginx with the shipped snippet.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { accessRecordCodec } from '../shared/avro/codec.js';
import { ClientKeys } from '../shared/ip.js';
import type { BusMessage } from '../shared/bus/types.js';
import { epochMs, ipText } from '../shared/clickhouse/sql.js';
import { loadConfig, type Config } from '../shared/config/load.js';
import { kafkaBrokers, unitOnly, uniqueName } from '../shared/testing/kafka.js';
import { startTestNginx } from '../shared/testing/nginx.js';
import { probe } from '../shared/testing/bus-probe.js';
import { startRuntime, type Runtime } from './runtime.js';
import { clickHouseEnv } from '../shared/clickhouse/testing.js';

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-slice-'));
const clients = new ClientKeys(64);
after(() => rmSync(dataDir, { recursive: true, force: true }));

function sliceConfig(brokers: string[]): Config {
  const yaml = [
    'security: { realtime_capture: true }',
    `kafka: { brokers: ${JSON.stringify(brokers)}, topic_prefix: "${uniqueName('slice')}.", partitions: 2, linger: 5ms }`,
    `clickhouse: { database: ${uniqueName('slice').replace(/[^A-Za-z0-9_]/g, '_')} }`,
    'ingest: { udp: { port: 0 } }',
    'api: { enabled: false }',
    `data_dir: ${JSON.stringify(dataDir)}`,
    'log_level: warn',
  ].join('\n');
  return loadConfig({ text: yaml, env: clickHouseEnv() });
}

async function sendUdp(port: number, lines: Array<string | Buffer>): Promise<void> {
  const socket = dgram.createSocket('udp4');
  for (const line of lines) {
    await new Promise<void>((resolve, reject) => socket.send(line, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  }
  socket.close();
}

interface Row {
  ts: string;
  ip: string;
  node: string;
  method: string;
  host: string;
  path: string;
  query: string;
  status: number;
  user_agent: string;
  request_id: string;
  bytes: string;
  upstream_time: number | null;
}

async function waitForRows(rt: Runtime, where: string, params: Record<string, unknown>, n: number): Promise<Row[]> {
  const ch = rt.ch;
  assert.ok(ch, 'runtime has ClickHouse');
  const sql = `SELECT ${epochMs('ts')} AS ts, ${ipText('client_ip')} AS ip, node, method, host, path, query, status, user_agent, request_id, bytes, upstream_time
    FROM ${ch.table('requests')} WHERE ${where} ORDER BY ts`;
  const deadline = Date.now() + 60_000;
  while (true) {
    const rows = await ch.query<Row>(sql, params);
    if (rows.length >= n || Date.now() > deadline) return rows;
    await sleep(100);
  }
}

async function collect(rt: Runtime, topic: string, n: number): Promise<BusMessage[]> {
  const p = await probe(rt.bus, topic);
  try {
    return [...(await p.atLeast(n))];
  } finally {
    await p.close();
  }
}

// Event time near now: the in-process bus keeps consumed messages only for a
// recent window (a rebuild's worth), and the test re-reads them from the bus.
const EVENT_MS = Math.floor(Date.now() / 1000) * 1000 + 250;
const nginxLine = (requestId: string, ip: string): string =>
  `<190>Nov 21 06:00:44 edge-7 nginx: ${JSON.stringify({
    ts: (EVENT_MS / 1000).toFixed(3), node: 'edge-7', deployment: '', client_ip: ip, xff: '', method: 'GET', host: 'shop.example',
    uri: '/wp-login.php?x=1', status: '404', bytes: '162', request_time: '0.001', upstream_time: '', user_agent: 'sqlmap/1.7',
    referer: '', country: '', auth_user: '', request_id: requestId, blocked_by: '', filter_alert: '',
  })}`;

const modes = [
  { name: 'distributed: real Kafka broker + ClickHouse', kafka: true },
  { name: 'embedded: in-process bus + ClickHouse', kafka: false },
];

for (const mode of modes) {
  describe(`slice, ${mode.name}`, { skip: mode.kafka && unitOnly() && 'unit-only run' }, () => {
    let rt: Runtime | undefined;
    after(async () => rt?.stop());

    test('a syslog datagram becomes an AccessRecord on the bus and a row in ClickHouse', async () => {
      rt = await startRuntime(sliceConfig(mode.kafka ? kafkaBrokers() : []), new Set(['ingester', 'sink'] as const));
      assert.equal(rt.bus.kind, mode.kafka ? 'kafka' : 'memory');
      const id = uniqueName('req');
      await sendUdp(rt.udpPort as number, [nginxLine(id, '2001:DB8::7'), 'garbage that is no syslog', nginxLine(`${id}-b`, '::ffff:198.51.100.23')]);

      const rows = await waitForRows(rt, 'startsWith(request_id, {id:String})', { id }, 2);
      assert.equal(rows.length, 2);
      const [a, b] = [rows.find((r) => r.request_id === id), rows.find((r) => r.request_id === `${id}-b`)];
      assert.deepEqual(
        { ...a, ts: Number(a?.ts), bytes: Number(a?.bytes) },
        { ts: EVENT_MS, ip: '2001:db8::7', node: 'edge-7', method: 'GET', host: 'shop.example', path: '/wp-login.php', query: 'x=1', status: 404, user_agent: 'sqlmap/1.7', request_id: id, bytes: 162, upstream_time: null },
      );
      assert.equal(b?.ip, '198.51.100.23', 'IPv4-mapped address folded to IPv4');

      // On the bus: Confluent framing (magic 0 + schema id), keyed by client: the address, or an IPv6 address's /64.
      const onBus = await collect(rt, rt.topics.access, 2);
      const mine = onBus.filter((m) => accessRecordCodec.decode(m.value).request_id.startsWith(id));
      assert.equal(mine.length, 2);
      for (const m of mine) {
        assert.equal(m.value[0], 0, 'magic byte');
        assert.equal(m.value.readUInt32BE(1), accessRecordCodec.schemaId);
        assert.equal(m.key?.toString(), clients.of(accessRecordCodec.decode(m.value).client_ip));
        assert.equal(m.timestamp, accessRecordCodec.decode(m.value).ts, 'bus timestamp is event time');
      }

      // The garbage line was not dropped silently: it waits on the dead-letter topic with its reason.
      const dead = await collect(rt, rt.topics.deadLetter, 1);
      assert.equal(dead.length, 1);
      assert.equal(dead[0]?.value.toString(), 'garbage that is no syslog');
      assert.equal(dead[0]?.headers.reason, 'bad_syslog_header');
      assert.equal(rt.pipeline?.stats.rejected.bad_syslog_header, 1);
    });
  });
}

describe('embedded pipeline: detector and sinks', () => {
  let rt: Runtime | undefined;
  after(async () => rt?.stop());

  test('an attacker\'s events and block decision land in ClickHouse (events, blocks)', async () => {
    rt = await startRuntime(sliceConfig([]), new Set(['ingester', 'detector', 'sink'] as const));
    const ip = '203.0.113.250';
    await sendUdp(rt.udpPort as number, [nginxLine(uniqueName('atk'), ip)]);
    const ch = rt.ch;
    assert.ok(ch);
    const deadline = Date.now() + 30_000;
    let events: Array<{ detector: string; type: string; count: number }> = [];
    let blocks: Array<{ action: string; source: string; actor: string; escalation_level: number }> = [];
    while (Date.now() < deadline && (events.length === 0 || blocks.length === 0)) {
      events = await ch.query(`SELECT detector, toString(type) AS type, count FROM ${ch.table('events')} WHERE ip = {ip:IPv6}`, { ip });
      blocks = await ch.query(`SELECT toString(action) AS action, toString(source) AS source, actor, escalation_level FROM ${ch.table('blocks')} WHERE ip = {ip:String}`, { ip });
      await sleep(100);
    }
    assert.ok(events.some((e) => e.detector === 'signature:ua-sqlmap' && e.type === 'scan_detected' && Number(e.count) === 1), JSON.stringify(events));
    assert.deepEqual(blocks, [{ action: 'block', source: 'auto', actor: 'detector', escalation_level: 0 }]);
  });
});

describe('slice from a real nginx with the shipped snippet', { skip: unitOnly() && 'unit-only run' }, () => {
  let rt: Runtime | undefined;
  let stopNginx: (() => Promise<void>) | undefined;
  after(async () => {
    await stopNginx?.();
    await rt?.stop();
  });

  test('requests served by nginx land in ClickHouse with the right fields', async () => {
    rt = await startRuntime(sliceConfig(kafkaBrokers()), new Set(['ingester', 'sink'] as const));
    const nginx = await startTestNginx({ syslog: `127.0.0.1:${rt.udpPort}` });
    stopNginx = () => nginx.stop();
    const ua = `logwarden-slice/${uniqueName('ua')}`;
    const statuses: number[] = [];
    for (const path of ['/', '/missing?probe=1', '/login']) {
      const res = await fetch(`${nginx.url}${path}`, { headers: { 'user-agent': ua } });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    assert.deepEqual(statuses, [200, 404, 401]);
    const rows = await waitForRows(rt, 'user_agent = {ua:String}', { ua }, 3);
    assert.deepEqual(
      rows.map((r) => [r.path, r.query, r.status, r.ip, r.method]),
      [
        ['/', '', 200, '127.0.0.1', 'GET'],
        ['/missing', 'probe=1', 404, '127.0.0.1', 'GET'],
        ['/login', '', 401, '127.0.0.1', 'GET'],
      ],
    );
    for (const r of rows) {
      assert.ok(r.node.length > 0, 'node from the log');
      assert.match(r.request_id, /^\d+-\d+$/, 'connection serial and request number ($logwarden_request_id)');
      assert.ok(Math.abs(Number(r.ts) - Date.now()) < 10 * 60_000, 'event time from $msec');
    }
  });
});

describe('end to end in one process: nginx → ingester → detector → enforcer → nginx', { skip: unitOnly() && 'unit-only run' }, () => {
  let rt: Runtime | undefined;
  let stopNginx: (() => Promise<void>) | undefined;
  after(async () => {
    await stopNginx?.();
    await rt?.stop();
  });

  test('an attack tool’s request through nginx gets its client refused by that nginx', async (t) => {
    const { freePort } = await import('../shared/testing/nginx.js');
    const udpPort = await freePort();
    const controlSecret = 'e2e-control-secret-0123456789';
    const nginx = await startTestNginx({ syslog: `127.0.0.1:${udpPort}`, controlPort: await freePort(), controlSecret });
    stopNginx = () => nginx.stop();
    const yaml = [
      `kafka: { brokers: [], topic_prefix: "${uniqueName('e2e')}." }`,
      `ingest: { udp: { port: ${udpPort} } }`,
      'api: { enabled: false }',
      `nodes: [{ name: edge-1, url: "${nginx.controlUrl as string}", secret_env: E2E_SECRET }]`,
      `data_dir: ${JSON.stringify(dataDir)}`,
      'log_level: warn',
    ].join('\n');
    rt = await startRuntime(loadConfig({ text: yaml, env: { E2E_SECRET: controlSecret } }), new Set(['ingester', 'detector', 'enforcer'] as const));
    const get = async (ua: string): Promise<number> => {
      const res = await fetch(`${nginx.url}/`, { headers: { 'user-agent': ua } });
      await res.arrayBuffer();
      return res.status;
    };
    assert.equal(await get('Mozilla/5.0'), 200);
    const t0 = Date.now();
    assert.equal(await get('sqlmap/1.7.2#stable (https://sqlmap.org)'), 200, 'the first probe is served: detection follows the log');
    const deadline = t0 + 30_000;
    let status = 200;
    while (status !== 403 && Date.now() < deadline) {
      await sleep(10);
      status = await get('Mozilla/5.0');
    }
    assert.equal(status, 403, 'the client is refused by nginx');
    t.diagnostic(`attack request → client refused at nginx after ${Date.now() - t0} ms (syslog, detector, decision, enforcer, Lua)`);
  });
});
