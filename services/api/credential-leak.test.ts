// No credential in logs, API responses or the rule set pushed to nginx.
// `logwarden all` runs as a child process at log level trace (its whole
// output captured), with a test nginx whose access log comes back to its
// ingester; the enforcer reaches nginx through a recording proxy, so the
// test sees every byte pushed. Protected routes get distinctive credentials
// (basic and bearer), nginx is made to enforce them (so the push happened),
// right and wrong credentials are tried at nginx, a wrong API token at the
// API, and every read endpoint is called. None of the secrets — route
// credentials (also base64-encoded as a Basic header carries them), the API
// tokens, the control endpoint's secret — may appear anywhere.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { signNodeRequest } from '../../shared/node-auth.js';
import { unitOnly, uniqueName } from '../../shared/testing/kafka.js';
import { freePort, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';
import { hashToken } from '../../shared/auth/tokens.js';
import { freeUdpPort } from '../../shared/testing/ports.js';

const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'logwarden-leak-'));

const hex = (n: number): string => randomBytes(n).toString('hex');
const ADMIN_TOKEN = `lw_leak-admin-${hex(12)}`;
const WRONG_TOKEN = `lw_leak-wrong-${hex(12)}`;
const CONTROL_SECRET = `leak-control-${hex(12)}`;
const BASIC_USER = 'leakuser';
const BASIC_PASSWORD = `Pw-${hex(10)}-leak`;
const WRONG_PASSWORD = `Wrong-${hex(10)}-leak`;
const BEARER = `bearer-leak-${hex(14)}`;

const SECRETS: Record<string, string> = {
  'basic password': BASIC_PASSWORD,
  'basic credential': `${BASIC_USER}:${BASIC_PASSWORD}`,
  'basic credential (base64)': Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString('base64'),
  'wrong password tried': WRONG_PASSWORD,
  'wrong credential tried (base64)': Buffer.from(`${BASIC_USER}:${WRONG_PASSWORD}`).toString('base64'),
  'bearer token': BEARER,
  'admin API token': ADMIN_TOKEN,
  'wrong API token tried': WRONG_TOKEN,
  'control endpoint secret': CONTROL_SECRET,
};

function leaks(where: string, text: string): string[] {
  return Object.entries(SECRETS)
    .filter(([, secret]) => text.includes(secret))
    .map(([what]) => `${what} in ${where}`);
}


describe('credentials never leave in clear', { skip: unitOnly() && 'unit-only run (needs nginx)' }, () => {
  let nginx: TestNginx | undefined;
  let child: ChildProcess | undefined;
  let proxy: Server | undefined;
  let output = '';
  let apiUrl = '';
  const pushed: Array<{ method: string; path: string; body: string; status: number; answer: string }> = [];

  before(async () => {
    const udpPort = await freeUdpPort();
    nginx = await startTestNginx({ syslog: `127.0.0.1:${udpPort}`, controlPort: await freePort(), controlSecret: CONTROL_SECRET });
    const target = new URL(nginx.controlUrl as string);
    // The enforcer → nginx control traffic, recorded on its way.
    proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
          const answer: Buffer[] = [];
          r.on('data', (c: Buffer) => answer.push(c));
          r.on('end', () => {
            const text = Buffer.concat(answer);
            pushed.push({ method: req.method ?? '', path: req.url ?? '', body: body.toString('utf8'), status: r.statusCode ?? 0, answer: text.toString('utf8') });
            res.writeHead(r.statusCode ?? 502, r.headers);
            res.end(text);
          });
        });
        up.on('error', () => res.destroy());
        up.end(body);
      });
    });
    await new Promise<void>((resolve) => proxy?.listen(0, '127.0.0.1', resolve));
    const proxyAddr = proxy.address();
    const proxyPort = typeof proxyAddr === 'object' && proxyAddr ? proxyAddr.port : 0;

    const configFile = join(dir, 'logwarden.yaml');
    writeFileSync(
      configFile,
      [
        'security: { scan_interval: 1s }',
        `kafka: { brokers: [], topic_prefix: "${uniqueName('leak')}." }`,
        `clickhouse: { database: ${uniqueName('leak').replace(/[^A-Za-z0-9_]/g, '_')} }`,
        `ingest: { udp: { host: 127.0.0.1, port: ${udpPort} } }`,
        `api: { host: 127.0.0.1, port: 0, tokens: [{ name: ops, role: admin, hash: "${hashToken(ADMIN_TOKEN)}" }] }`,
        `nodes: [{ name: edge-1, url: "http://127.0.0.1:${proxyPort}", secret_env: LEAK_NODE_SECRET }]`,
        'metrics: { port: 0 }',
        `data_dir: ${JSON.stringify(join(dir, 'data'))}`,
        'log_level: trace',
        '',
      ].join('\n'),
    );
    const env: NodeJS.ProcessEnv = { ...process.env, LEAK_NODE_SECRET: CONTROL_SECRET };
    delete env.LOGWARDEN_CONFIG;
    child = spawn(process.execPath, [cli, 'all', '-c', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const deadline = Date.now() + 120_000;
    for (;;) {
      const m = /API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        apiUrl = m[1] as string;
        break;
      }
      assert.ok(child.exitCode === null, `logwarden all exited: ${output.slice(-2000)}`);
      assert.ok(Date.now() < deadline, 'logwarden all started');
      await sleep(100);
    }
  });

  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
    }
    await nginx?.stop();
    await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
    rmSync(dir, { recursive: true, force: true });
  });

  test('route credentials, API tokens and the control secret appear in no log, response or pushed rule set', async () => {
    assert.ok(nginx && child);
    const bodies: Array<[string, string]> = [];
    const api = async (method: string, path: string, body?: unknown, token = ADMIN_TOKEN): Promise<{ status: number; text: string }> => {
      const res = await fetch(apiUrl + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      bodies.push([`${method} ${path} (${res.status})`, `${JSON.stringify([...res.headers])}\n${text}`]);
      return { status: res.status, text };
    };
    // A client other than 127.0.0.1 sends X-Forwarded-For: the test nginx trusts it from
    // 127.0.0.1 (realip), as a node behind a proxy does (shared/testing/nginx-client.ts).
    const edge = async (path: string, headers: Record<string, string> = {}): Promise<number> => {
      const res = await fetch(nginx?.url + path, { headers: { 'x-forwarded-for': '192.0.2.61', ...headers } });
      await res.arrayBuffer();
      return res.status;
    };

    const basic = await api('POST', '/api/security/protected-routes', { path: '/admin', method: 'ALL', auth_type: 'basic', credentials: `${BASIC_USER}:${BASIC_PASSWORD}` });
    assert.equal(basic.status, 201, basic.text);
    const bearer = await api('POST', '/api/security/protected-routes', { path: '/internal', method: 'GET', auth_type: 'bearer', credentials: BEARER });
    assert.equal(bearer.status, 201, bearer.text);
    const basicId = (JSON.parse(basic.text) as { data: { id: string } }).data.id;

    // nginx enforces both: the rule set was pushed.
    const deadline = Date.now() + 30_000;
    while ((await edge('/admin')) !== 401 || (await edge('/internal')) !== 401) {
      assert.ok(Date.now() < deadline, 'nginx asks for credentials on both routes');
      await sleep(50);
    }
    assert.equal(await edge('/admin', { authorization: `Basic ${Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString('base64')}` }), 200);
    assert.equal(await edge('/admin', { authorization: `Basic ${Buffer.from(`${BASIC_USER}:${WRONG_PASSWORD}`).toString('base64')}` }), 401);
    assert.equal(await edge('/internal', { authorization: `Bearer ${BEARER}` }), 200);
    assert.equal((await api('GET', '/api/security/protected-routes', undefined, WRONG_TOKEN)).status, 401);

    for (const path of [
      '/api/security/protected-routes', `/api/security/protected-routes/${basicId}`, '/api/security/filter', '/api/security/filter/levels',
      '/api/security/config', '/api/security/deployments', '/api/security/whitelist', '/api/security/blocked-ips', '/api/security/events',
      '/api/security/stats', '/api/pipeline/status', '/api/whoami', '/api/openapi.json', '/metrics', '/healthz', '/readyz',
    ]) {
      const r = await api('GET', path);
      assert.ok(r.status < 500, `${path}: ${r.status}`);
    }
    const listed = JSON.parse(bodies.find(([k]) => k === 'GET /api/security/protected-routes (200)')?.[1].split('\n').slice(1).join('\n') ?? '{}') as { data?: unknown[] };
    assert.equal(listed.data?.length, 2, 'both routes listed');

    // What the enforcer pushed: the rule set with hashes, never the credentials.
    const rules = pushed.filter((p) => p.method === 'PUT' && p.path === '/rules' && p.status === 200).map((p) => JSON.parse(p.body) as { routes: Array<{ path: string; credential_hash: string }> });
    const last = rules.at(-1);
    assert.ok(last, `a rule set was pushed (${pushed.map((p) => `${p.method} ${p.path} ${p.status}`).join(', ')})`);
    assert.deepEqual(last.routes.map((r) => r.path).sort(), ['/admin', '/internal']);
    for (const r of last.routes) assert.match(r.credential_hash, /^pbkdf2-sha1\$/, 'a hash, not the credential');
    // And what the node reports back.
    const status = await fetch(`${nginx.controlUrl}/status`, { headers: { authorization: signNodeRequest(CONTROL_SECRET, 'GET', '/status', '') } });
    const statusText = await status.text();

    // The process's whole output, after a clean stop (buffers flushed).
    await sleep(1_500);
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    assert.ok(output.includes('"msg"'), 'the process logged (pino JSON lines captured)');

    const found = [
      ...leaks('logwarden all output', output),
      ...bodies.flatMap(([where, text]) => leaks(`API response ${where}`, text)),
      ...pushed.flatMap((p) => [...leaks(`pushed ${p.method} ${p.path}`, p.body), ...leaks(`node answer to ${p.method} ${p.path}`, p.answer)]),
      ...leaks('node /status', statusText),
      ...readdirSync(join(nginx.dir, 'logs')).flatMap((f) => leaks(`nginx logs/${f}`, readFileSync(join(nginx?.dir as string, 'logs', f), 'utf8'))),
    ];
    assert.deepEqual(found, []);
  });
});
