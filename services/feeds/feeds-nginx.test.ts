// A feed served over HTTP on loopback, from the config to a real nginx
// refusing its addresses: the feeds service publishes the difference, the sink
// stores it, the enforcer pushes it through the Lua control endpoint. The API
// shows the feed (GET /api/feeds) and lists its blocks by source, and the CLI
// prints the same. Embedded mode (in-process bus, embedded ClickHouse).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiCaller } from '../../shared/testing/api-client.js';
import { testConfig } from '../../shared/testing/config.js';
import { untilAnswers } from '../../shared/testing/nginx-client.js';
import { freePort, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';
import { until } from '../../shared/testing/wait.js';
import { startRuntime, type Runtime } from '../runtime.js';

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-feeds-nginx-'));
const TOKEN = 'lw_feeds-admin-token-0123456789abcdef';
const SECRET = 'feeds-nginx-control-secret-0123';

describe('a feed → nginx', () => {
  let nginx: TestNginx | undefined;
  let rt: Runtime | undefined;
  const list = '# test list\n198.51.100.0/25\n198.51.100.128/25\n203.0.113.5 ; SBL1\n192.0.2.0/24\n';
  const server = createServer((req, res) => {
    if (req.headers['if-none-match'] === '"a"') res.writeHead(304).end();
    else res.writeHead(200, { etag: '"a"', 'content-type': 'text/plain' }).end(list);
  });
  after(async () => {
    await rt?.stop();
    await nginx?.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dataDir, { recursive: true, force: true });
  });

  const api = apiCaller(() => rt?.apiPort, TOKEN);
  const cli = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH ?? '', LOGWARDEN_API_URL: `http://127.0.0.1:${rt?.apiPort}`, LOGWARDEN_TOKEN: TOKEN } });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  const edge = async (client: string): Promise<number> => {
    const res = await fetch(`${nginx?.url}/`, { headers: { 'x-forwarded-for': client } });
    await res.arrayBuffer();
    return res.status;
  };

  test('the feed\'s ranges are refused by nginx; the whitelisted entry is not applied; API and CLI show the feed', async (t) => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/drop.txt`;
    nginx = await startTestNginx({ controlPort: await freePort(), controlSecret: SECRET });
    const config = testConfig('feedsnginx', {
      dataDir, tokens: { admin: TOKEN }, env: { FEED_NODE_SECRET: SECRET },
      sections: {
        ingest: { udp: { enabled: false } },
        security: { scan_interval: '300ms' },
        detection: { whitelist: { ips: ['192.0.2.1'] } },
        nodes: [{ name: 'edge-1', url: nginx.controlUrl, secret_env: 'FEED_NODE_SECRET' }],
        feeds: [{ name: 'drop', source: url, refresh: '1h', block_duration: '1d' }],
      },
    });
    assert.equal(await edge('198.51.100.9'), 200, 'nothing blocked before the runtime starts');
    rt = await startRuntime(config, new Set(['api', 'sink', 'enforcer']));

    const ms = await untilAnswers('the feed\'s range refused', () => edge('198.51.100.200'), 403);
    t.diagnostic(`start → feed range refused by nginx in ${ms} ms`);
    // The feed's entries are decisions keyed by address, on several partitions: they reach the
    // enforcer, and nginx, in more than one push, a few milliseconds apart.
    await untilAnswers('the feed\'s address refused', () => edge('203.0.113.5'), 403);
    assert.equal(await edge('192.0.2.2'), 200, 'an entry covering a whitelisted address is never applied');
    assert.equal(await edge('198.51.101.1'), 200);

    const feeds = await api('GET', '/api/feeds');
    assert.equal(feeds.status, 200);
    const [feed] = feeds.body.data as Array<Record<string, unknown>>;
    assert.equal(feed?.name, 'drop');
    assert.equal(feed?.state, 'ok');
    assert.equal(feed?.size, 2, '198.51.100.0/24 (merged) and 203.0.113.5');
    assert.equal(feed?.listed, 4);
    assert.equal(feed?.whitelisted, 1);
    assert.equal(feed?.last_error, null);

    const bySource = await until('the feed\'s blocks listed', async () => {
      const r = await api('GET', '/api/security/blocked-ips?source=feed:drop');
      return r.body.total === 2 ? r : undefined;
    });
    assert.deepEqual((bySource.body.data as Array<{ ip: string; source: string }>).map((b) => `${b.ip} ${b.source}`).sort(), ['198.51.100.0/24 feed:drop', '203.0.113.5 feed:drop']);
    assert.equal((await api('GET', '/api/security/blocked-ips?source=feed')).body.total, 2);
    assert.equal((await api('GET', '/api/security/blocked-ips?source=manual')).body.total, 0);
    assert.equal((await api('GET', '/api/security/blocked-ips?source=feed:Bad Name')).status, 400);
    const openapi = await fetch(`http://127.0.0.1:${rt.apiPort}/api/openapi.json`);
    assert.ok(((await openapi.json()) as { paths: Record<string, unknown> }).paths['/api/feeds'], 'GET /api/feeds is in the OpenAPI document');

    const out = await cli(['feeds']);
    assert.equal(out.code, 0, out.stdout);
    assert.match(out.stdout, /^FEED\s+ORIGIN\s+STATE\s+BLOCKS\s+LISTED\s+WHITELISTED/m);
    assert.match(out.stdout, /^drop\s+config\s+ok\s+2\s+4\s+1\s+0\s+1h\s/m);
  });

  test('a feed added with the CLI starts at once and reaches nginx; refused when it would shadow the config\'s or is invalid; removed, its blocks are lifted', async () => {
    assert.ok(rt && nginx);
    const file = join(dataDir, 'extra.txt');
    writeFileSync(file, '100.64.0.7\n');
    assert.equal(await edge('100.64.0.7'), 200);
    const add = await cli(['feeds', 'add', 'extra', file, '--refresh', '1m', '--block-duration', '1h']);
    assert.equal(add.code, 0, add.stdout + add.stderr);
    await untilAnswers('the API-added feed refused by nginx', () => edge('100.64.0.7'), 403);
    const listed = (await api('GET', '/api/feeds')).body.data as Array<{ name: string; origin: string; size: number }>;
    assert.deepEqual(listed.map((f) => `${f.name} ${f.origin} ${f.size}`), ['drop config 2', 'extra api 1']);

    const shadow = await api('POST', '/api/feeds', { name: 'drop', source: file });
    assert.equal(shadow.status, 409);
    assert.equal(shadow.body.code, 'LW_API_FEED_IN_CONFIG');
    const short = await api('POST', '/api/feeds', { name: 'x', source: file, refresh: '1h', block_duration: '1h' });
    assert.deepEqual([short.status, short.body.field], [400, 'block_duration']);
    const size = await api('POST', '/api/feeds', { name: 'x', source: file, max_size: 'lots' });
    assert.equal(size.status, 400);
    assert.match(String(size.body.field), /max_size/);
    assert.equal((await api('GET', '/api/feeds')).body.total, 2, 'nothing half-applied');

    const rm = await cli(['feeds', 'rm', 'extra']);
    assert.equal(rm.code, 0, rm.stdout + rm.stderr);
    await untilAnswers('the removed feed\'s block lifted', () => edge('100.64.0.7'), 200);
    assert.equal((await api('GET', '/api/feeds')).body.total, 1);
    assert.equal((await cli(['feeds', 'rm', 'drop'])).code, 5, 'a config feed is removed in the config');
    // A whitelist entry added later lifts the feed's block that covers it (the whitelist always wins).
    assert.equal((await api('POST', '/api/security/whitelist', { type: 'ip', value: '203.0.113.5', description: 'partner' })).status, 201);
    await until('the covering feed block lifted', async () => {
      const r = await api('GET', '/api/security/blocked-ips?source=feed:drop');
      return r.body.total === 1 ? true : undefined;
    });
    const [feed] = (await api('GET', '/api/feeds')).body.data as Array<{ size: number; whitelisted: number }>;
    assert.deepEqual([feed?.size, feed?.whitelisted], [1, 2]);
  });
});
