// From an API call to a real nginx refusing (or admitting) a request: the API
// writes the control plane, the enforcer in the same process turns it into a
// rule set or a block and pushes it through the Lua control endpoint. Embedded
// mode (in-process bus, embedded ClickHouse), then a restart of it.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../shared/config/load.js';
import { apiCaller } from '../../shared/testing/api-client.js';
import { untilAnswers } from '../../shared/testing/nginx-client.js';
import { uniqueName } from '../../shared/testing/kafka.js';
import { freePort, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';
import { startRuntime, type Runtime } from '../runtime.js';
import { hashToken } from '../../shared/auth/tokens.js';
import { clickHouseEnv } from '../../shared/clickhouse/testing.js';

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-api-enforce-'));
const TOKEN = 'lw_enforce-admin-token-0123456789abcdef';
const SECRET = 'api-enforce-control-secret-0123';
const database = uniqueName('apienf').replace(/[^A-Za-z0-9_]/g, '_');
const prefix = `${uniqueName('apienf')}.`;

function config(nginx: TestNginx): Config {
  const yaml = [
    `kafka: { brokers: [], topic_prefix: "${prefix}" }`,
    `clickhouse: { database: ${database} }`,
    'ingest: { udp: { enabled: false } }',
    'security: { scan_interval: 300ms }',
    `api: { port: 0, tokens: [{ name: ops, role: admin, hash: "${hashToken(TOKEN)}" }] }`,
    `nodes: [{ name: edge-1, url: "${nginx.controlUrl as string}", secret_env: ENF_SECRET }]`,
    `data_dir: ${JSON.stringify(dataDir)}`,
    'log_level: warn',
  ].join('\n');
  return loadConfig({ text: yaml, env: clickHouseEnv({ ENF_SECRET: SECRET }) });
}

describe('API → enforcer → nginx', () => {
  let nginx: TestNginx | undefined;
  let rt: Runtime | undefined;
  after(async () => {
    await rt?.stop();
    await nginx?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const api = apiCaller(() => rt?.apiPort, TOKEN);
  // A client other than 127.0.0.1 sends X-Forwarded-For: the test nginx trusts it from
  // 127.0.0.1 (realip), as a node behind a proxy does (shared/testing/nginx-client.ts).
  const edge = async (path: string, client: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers }> => {
    const res = await fetch(`${nginx?.url}${path}`, { headers: { 'x-forwarded-for': client, ...headers } });
    await res.arrayBuffer();
    return { status: res.status, headers: res.headers };
  };
  const until = untilAnswers;
  /** 1 when nginx answers the client with the challenge page. */
  const challenged = async (client: string): Promise<number> => {
    const res = await fetch(`${nginx?.url}/`, { headers: { 'x-forwarded-for': client } });
    return (await res.text()).includes('id="lw-challenge"') ? 1 : 0;
  };

  test('blocks, protected routes, deployment policies and whitelist set through the API are enforced by nginx', async (t) => {
    nginx = await startTestNginx({ controlPort: await freePort(), controlSecret: SECRET });
    rt = await startRuntime(config(nginx), new Set(['api', 'sink', 'enforcer']));

    // A manual block.
    assert.equal((await edge('/', '198.51.100.10')).status, 200);
    assert.equal((await api('POST', '/api/security/blocked-ips', { ip: '198.51.100.10', reason: 'test', duration: 3600 })).status, 201);
    const blockMs = await until('manual block', async () => (await edge('/', '198.51.100.10')).status, 403);
    t.diagnostic(`API block → 403 at nginx in ${blockMs} ms`);
    // A range.
    assert.equal((await api('POST', '/api/security/blocked-ips', { ip: '203.0.113.0/24', duration: 3600 })).status, 201);
    await until('range block', async () => (await edge('/', '203.0.113.77')).status, 403);
    // A manual challenge: the page at nginx (the enforcer pushed the keys), listed with its action.
    assert.equal((await api('POST', '/api/security/blocked-ips', { ip: '198.51.100.12', action: 'challenge', duration: 3600 })).status, 201);
    await until('manual challenge', () => challenged('198.51.100.12'), 1);
    const listed = (await api('GET', '/api/security/blocked-ips?ip=198.51.100.12')).body.data as Array<{ action: string }>;
    assert.equal(listed[0]?.action, 'challenge');

    // A protected route with basic auth: 401 without, 200 with the credentials.
    assert.equal((await api('POST', '/api/security/protected-routes', { path: '/admin', method: 'ALL', auth_type: 'basic', credentials: 'admin:secret' })).status, 201);
    await until('protected route', async () => (await edge('/admin', '192.0.2.20')).status, 401);
    const challenge = await edge('/admin', '192.0.2.20');
    assert.match(challenge.headers.get('www-authenticate') ?? '', /^Basic /);
    const basic = `Basic ${Buffer.from('admin:secret').toString('base64')}`;
    assert.notEqual((await edge('/admin', '192.0.2.20', { authorization: basic })).status, 401, 'the right credentials pass');
    assert.equal((await edge('/admin', '192.0.2.20', { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` })).status, 401);

    // A deployment policy: blocked path.
    assert.equal((await api('PUT', '/api/deployments/logwarden-test/security', { enabled: true, rate_limit: 0, allowed_ips: [], blocked_paths: ['/wp-admin'] })).status, 200);
    await until('blocked path', async () => (await edge('/wp-admin/setup.php', '192.0.2.21')).status, 403);

    // The whitelist beats a block.
    assert.equal((await api('POST', '/api/security/whitelist', { type: 'ip', value: '198.51.100.10' })).status, 201);
    await until('whitelisted address admitted', async () => (await edge('/', '198.51.100.10')).status, 200);

    // Unblock.
    assert.equal((await api('DELETE', '/api/security/blocked-ips/203.0.113.0%2F24')).status, 200);
    await until('range unblocked', async () => (await edge('/', '203.0.113.77')).status, 200);
  });

  test('after a restart of the embedded process, nginx is given the same blocks and rules again', async () => {
    assert.ok(nginx && rt);
    await rt.stop();
    rt = undefined;
    // nginx restarted too: its shared dicts are empty.
    await nginx.stop();
    nginx = await startTestNginx({ dir: nginx.dir, port: nginx.port, controlPort: nginx.controlPort as number, controlSecret: SECRET });
    assert.equal((await edge('/admin', '192.0.2.30')).status, 200, 'a fresh nginx knows nothing');
    rt = await startRuntime(config(nginx), new Set(['api', 'sink', 'enforcer']));
    await until('route restored', async () => (await edge('/admin', '192.0.2.30')).status, 401);
    await until('blocked path restored', async () => (await edge('/wp-admin/', '192.0.2.31')).status, 403);
    // 198.51.100.10 is still blocked but whitelisted; a second blocked address shows the blocks came back.
    assert.equal((await api('POST', '/api/security/blocked-ips', { ip: '198.51.100.11', duration: 3600 })).status, 201);
    await rt.stop();
    rt = await startRuntime(config(nginx), new Set(['api', 'sink', 'enforcer']));
    await until('block restored from control_blocks', async () => (await edge('/', '198.51.100.11')).status, 403);
    await until('challenge restored from control_blocks, as a challenge', () => challenged('198.51.100.12'), 1);
  });
});
