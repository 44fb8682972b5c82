// `logwarden check-node`, each diagnosis against a real nginx with the Lua
// module in the state that causes it: stopped (unreachable), asked on its site
// port instead of the control listener (something else answers), another
// secret, no secret given, no secret set on the node (the README's steps with
// an empty SECRET, on Debian's stock nginx), its syslog line pointed where no
// ingester listens (no logs), and a server with the syslog line but no access
// check (the setup the old banner described: logged, never checked). One
// embedded logwarden (ingester + API, no nodes: entry) serves the whole file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testConfig } from '../../../shared/testing/config.js';
import { debianNginx, debianNginxMissing, readmeBlock, runScript, type DebianNginx } from '../../../shared/testing/debian-nginx.js';
import { freePort, startTestNginx, stopTestNginx, type TestNginx } from '../../../shared/testing/nginx.js';
import { requireTool } from '../../../shared/testing/require-tool.js';
import { startRuntime, type Runtime } from '../../runtime.js';
import type { Finding } from './check-node.js';
import { runApiCommand, type ApiOptionValues } from './index.js';

const TOKEN = 'lw_check-node-admin-token-0123456789';
const SECRET = 'check-node-control-secret-0123456';
const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-check-node-'));
let rt: Runtime;

before(async () => {
  const config = testConfig('checknode', { dataDir, tokens: { admin: TOKEN }, sections: { ingest: { udp: { port: 0 }, tcp: { enabled: false } } } });
  rt = await startRuntime(config, new Set(['ingester', 'api'] as const));
});
after(async () => {
  await rt.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Result {
  code: number;
  findings: Finding[];
  failed: string[];
  text: string;
}

async function checkNode(url: string, opts: ApiOptionValues = {}, env: NodeJS.ProcessEnv = { LOGWARDEN_NODE_SECRET: SECRET, LOGWARDEN_TOKEN: TOKEN }): Promise<Result> {
  let out = '';
  let err = '';
  const io = { env, out: (s: string) => (out += s), err: (s: string) => (err += s), stdin: () => undefined, interrupted: new AbortController().signal };
  const code = await runApiCommand('check-node', [url], { api: `http://127.0.0.1:${rt.apiPort as number}`, json: true, ...opts }, io);
  const parsed = JSON.parse(out) as { findings: Finding[] };
  return { code, findings: parsed.findings, failed: parsed.findings.filter((f) => !f.ok).map((f) => f.code ?? '?'), text: out + err };
}

const syslog = (): string => `127.0.0.1:${rt.udpPort as number}`;

test('a stopped node: unreachable, exit 1', { timeout: 60_000 }, async () => {
  const nginx = await startTestNginx({ syslog: syslog(), control: true, controlSecret: SECRET });
  const url = nginx.controlUrl as string;
  await nginx.stop();
  const r = await checkNode(url);
  assert.deepEqual(r.failed, ['LW_CLI_NODE_UNREACHABLE'], r.text);
  assert.equal(r.code, 1);
  assert.match(r.text, /ECONNREFUSED/);
});

test('the URL of a site instead of the control listener: something else answers, exit 1; a good node, asked rightly, has nothing wrong', { timeout: 60_000 }, async () => {
  let nginx: TestNginx | undefined;
  try {
    nginx = await startTestNginx({ syslog: syslog(), control: true, controlSecret: SECRET });
    const r = await checkNode(nginx.url);
    assert.deepEqual(r.failed, ['LW_CLI_NODE_NOT_LOGWARDEN'], r.text);
    assert.equal(r.code, 1);
    assert.match(r.text, /HTTP 200, text\/plain/);

    const good = await checkNode(nginx.controlUrl as string, { probe: `${nginx.url}/` });
    assert.deepEqual(good.failed, [], good.text);
    assert.equal(good.code, 0);
    assert.ok(good.findings.some((f) => f.message.includes('the probe went through the access check')), good.text);
    assert.ok(good.findings.some((f) => f.message.includes('was logged')), good.text);
    // No nodes: entry in this instance's configuration: a warning, not a failure.
    assert.ok(good.findings.some((f) => f.ok && f.code === 'LW_CLI_NODE_NOT_LISTED'), good.text);
  } finally {
    await stopTestNginx(nginx);
  }
});

test('another secret: refused, exit 3; no secret given: exit 2', { timeout: 60_000 }, async () => {
  let nginx: TestNginx | undefined;
  try {
    nginx = await startTestNginx({ syslog: syslog(), control: true, controlSecret: SECRET });
    const url = nginx.controlUrl as string;
    const wrong = await checkNode(url, {}, { LOGWARDEN_NODE_SECRET: 'not-the-node-secret-0123456789', LOGWARDEN_TOKEN: TOKEN });
    assert.deepEqual(wrong.failed, ['LW_CLI_NODE_WRONG_SECRET'], wrong.text);
    assert.equal(wrong.code, 3);
    assert.match(wrong.text, /bad signature/);
    const none = await checkNode(url, {}, { LOGWARDEN_TOKEN: TOKEN });
    assert.deepEqual(none.failed, ['LW_CLI_NODE_NO_SECRET'], none.text);
    assert.equal(none.code, 2);
  } finally {
    await stopTestNginx(nginx);
  }
});

test('logs sent where no ingester listens: no logs for the probe, exit 1', { timeout: 60_000 }, async () => {
  let nginx: TestNginx | undefined;
  try {
    // A port nothing listens on: the node's lines go nowhere.
    nginx = await startTestNginx({ syslog: `127.0.0.1:${await freePort()}`, control: true, controlSecret: SECRET });
    const url = nginx.controlUrl as string;
    const probed = await checkNode(url, { probe: `${nginx.url}/` });
    assert.deepEqual(probed.failed, ['LW_CLI_NODE_NO_LOGS'], probed.text);
    assert.equal(probed.code, 1);
    assert.ok(probed.findings.some((f) => f.message.includes('the probe went through the access check')), probed.text);
  } finally {
    await stopTestNginx(nginx);
  }
});

const debian = debianNginxMissing();

test('Debian\'s nginx set up by the README with an empty SECRET: the node has no secret (503), exit 1', { timeout: 60_000, skip: requireTool(debian, debian === '') }, async () => {
  let nginx: DebianNginx | undefined;
  try {
    nginx = await debianNginx();
    const LW = join(nginx.root, 'logwarden');
    const controlPort = await freePort();
    const env = { LW, NGINX: nginx.etc, INGESTER: syslog(), SECRET: '' };
    await runScript(readmeBlock('install'), env);
    await runScript(readmeBlock('include'), env);
    await runScript('sed -i "s|127.0.0.1:8091|127.0.0.1:$PORT|" "$LW/lua/conf/logwarden-control.conf"', { LW, PORT: String(controlPort) });
    await nginx.start();
    const r = await checkNode(`http://127.0.0.1:${controlPort}`);
    assert.deepEqual(r.failed, ['LW_CLI_NODE_SECRET_UNSET'], r.text);
    assert.equal(r.code, 1);
  } finally {
    await nginx?.remove();
  }
});

test('Debian\'s nginx whose server has the syslog line without the access check: logged, not checked, exit 1', { timeout: 60_000, skip: requireTool(debian, debian === '') }, async () => {
  let nginx: DebianNginx | undefined;
  try {
    nginx = await debianNginx();
    const LW = join(nginx.root, 'logwarden');
    const controlPort = await freePort();
    const env = { LW, NGINX: nginx.etc, INGESTER: syslog(), SECRET };
    await runScript(readmeBlock('install'), env);
    // The http-level includes as the README says, but in the server only the access_log line.
    await runScript(readmeBlock('include').split('\n').filter((l) => !l.includes('logwarden-server.conf')).join('\n'), env);
    await runScript(
      'sed -i "s|^\\(\\s*\\)server_name _;|&\\n\\1access_log syslog:server=$INGESTER,tag=nginx logwarden_json;|" "$NGINX/sites-available/default"; ' +
        'sed -i "s|127.0.0.1:8091|127.0.0.1:$PORT|" "$LW/lua/conf/logwarden-control.conf"',
      { ...env, PORT: String(controlPort) },
    );
    await nginx.start();
    const r = await checkNode(`http://127.0.0.1:${controlPort}`, { probe: `${nginx.url}/` });
    assert.deepEqual(r.failed, ['LW_CLI_NODE_NO_ACCESS_CHECK'], r.text);
    assert.equal(r.code, 1);
    assert.ok(r.findings.some((f) => f.message.includes('was logged')), r.text);
    // From the counts alone (no probe): the node logged requests and checked none.
    const counts = await checkNode(`http://127.0.0.1:${controlPort}`);
    assert.deepEqual(counts.failed, ['LW_CLI_NODE_NO_ACCESS_CHECK'], counts.text);
  } finally {
    await nginx?.remove();
  }
});

test('a node whose Lua module predates the checked count: logs judged, the access check not (a stand-in server, not nginx)', { timeout: 30_000 }, async () => {
  // The /status body of a lua/ from before logwarden.checked: no "checked".
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ epoch: '1-ab', blocks: 0, ranges: 0, rules_version: 0, hostname: 'old-node' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const r = await checkNode(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    assert.ok(r.findings.some((f) => f.ok && f.message.includes('predates logwarden.checked')), r.text);
    assert.deepEqual(r.failed, ['LW_CLI_NODE_NO_LOGS'], 'no line from "old-node": judged from the counts');
    assert.ok(!r.text.includes('LW_CLI_NODE_NO_ACCESS_CHECK'), r.text);
  } finally {
    server.close();
  }
});
