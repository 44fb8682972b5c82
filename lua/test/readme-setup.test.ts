// The README's "Point nginx at it", followed literally on Debian's stock nginx:
// its code blocks are read from README.md (so the README and this test cannot
// drift) and run as written, on a copy of /etc/nginx in a temporary directory
// started with the system's nginx binary and its own prefix
// (shared/testing/debian-nginx.ts: the machine's /etc/nginx is not touched).
//
// What the test supplies is what a user supplies: the values of step 2 (LW and
// NGINX point into the temporary directory, INGESTER at this test's ingester,
// a secret), and free ports where the shipped snippets name fixed ones (the
// control listener's 127.0.0.1:8091, in the snippet and in the nodes: entry).
// Step 5 (reload) is nginx's own start here. Then, through the API, an address
// is blocked and nginx refuses it; `logwarden check-node` finds nothing wrong.
// The client is a real 127.x source address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { apiCaller } from '../../shared/testing/api-client.js';
import { testConfig } from '../../shared/testing/config.js';
import { debianNginx, debianNginxMissing, readmeBlock, REPO_ROOT, runScript } from '../../shared/testing/debian-nginx.js';
import { nginxRequest, untilAnswers } from '../../shared/testing/nginx-client.js';
import { freePort } from '../../shared/testing/nginx.js';
import { requireTool } from '../../shared/testing/require-tool.js';
import { startRuntime } from '../../services/runtime.js';
import { runApiCommand } from '../../services/cli/commands/index.js';

const TOKEN = 'lw_readme-setup-admin-token-0123456789';
const SECRET = 'readme-setup-secret-0123456789';
const CLIENT = '127.0.93.7';

test('the README\'s nginx steps, as written, on a fresh Debian nginx: an address blocked through the API gets 403', { timeout: 120_000, skip: requireTool(debianNginxMissing(), debianNginxMissing() === '') }, async () => {
  // Step 1 names exactly the packages this nginx has.
  const packages = readmeBlock('packages').trim();
  assert.equal(packages, 'apt-get install nginx libnginx-mod-http-lua lua-cjson');
  const installed = execFileSync('dpkg-query', ['-W', '-f=${Package} ${Status}\n', 'nginx', 'libnginx-mod-http-lua', 'lua-cjson'], { encoding: 'utf8' });
  assert.equal(installed.split('\n').filter((l) => l.endsWith('install ok installed')).length, 3, installed);

  // Step 2: the values a user sets, by name.
  const values = readmeBlock('values');
  assert.deepEqual([...values.matchAll(/^([A-Z]+)=/gm)].map((m) => m[1]), ['LW', 'NGINX', 'INGESTER', 'SECRET']);

  const nginx = await debianNginx();
  const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-readme-setup-'));
  const controlPort = await freePort();
  // Step 6: the nodes: entry as the README writes it, at this test's port.
  const nodesDoc = parseYaml(readmeBlock('nodes').replaceAll('127.0.0.1:8091', `127.0.0.1:${controlPort}`)) as { nodes: Array<Record<string, string>> };
  assert.equal(nodesDoc.nodes[0]?.secret_env, 'LOGWARDEN_NODE_SECRET');
  const config = testConfig('readme-setup', {
    dataDir,
    tokens: { admin: TOKEN },
    env: { LOGWARDEN_NODE_SECRET: SECRET },
    sections: { ingest: { udp: { port: 0 }, tcp: { enabled: false } }, security: { scan_interval: '1s' }, nodes: nodesDoc.nodes },
  });
  const rt = await startRuntime(config, new Set(['ingester', 'sink', 'api', 'enforcer'] as const));
  const LW = join(nginx.root, 'logwarden');
  try {
    // Steps 3 and 4, as written.
    const env = { LW, NGINX: nginx.etc, INGESTER: `127.0.0.1:${rt.udpPort as number}`, SECRET };
    await runScript(readmeBlock('install'), env);
    await runScript(readmeBlock('include'), env);
    const control = join(LW, 'lua/conf/logwarden-control.conf');
    // The three edits took: no shipped value is left where the README says to change it.
    assert.match(readFileSync(join(LW, 'lua/conf/logwarden-http.conf'), 'utf8'), new RegExp(`lua_package_path "${LW}/lua/\\?\\.lua;`));
    assert.match(readFileSync(join(LW, 'lua/conf/logwarden-server.conf'), 'utf8'), new RegExp(`syslog:server=127\\.0\\.0\\.1:${rt.udpPort as number},`));
    assert.match(readFileSync(control, 'utf8'), new RegExp(`set \\$logwarden_control_secret "${SECRET}";`));
    assert.match(readFileSync(join(nginx.etc, 'sites-available/default'), 'utf8'), new RegExp(`server_name _;\\n\\s*include ${LW}/lua/conf/logwarden-server\\.conf;`));
    // This machine's port for the control listener (the README's entry names the shipped one).
    runSed(control, '127.0.0.1:8091', `127.0.0.1:${controlPort}`);

    // Step 5: nginx's own start.
    await nginx.start();
    const edge = async (path: string): Promise<{ status: number; body: string }> => nginxRequest({ port: nginx.port, path, client: CLIENT });
    assert.equal((await edge('/no-such-page')).status, 404, 'not blocked yet: the stock site answers');

    const api = apiCaller(() => rt.apiPort, TOKEN);
    const r = await api('POST', '/api/security/blocked-ips', { ip: CLIENT, reason: 'README setup test', duration: 3600 });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await untilAnswers(`${CLIENT} refused by the README-configured nginx`, async () => (await edge('/no-such-page')).status, 403);
    const refused = await edge('/no-such-page');
    assert.deepEqual(JSON.parse(refused.body), { error: 'forbidden', blocked_by: 'blocklist' });

    // Step 7: check-node finds nothing wrong with the node (its logs, its access check, its entry).
    let out = '';
    const code = await runApiCommand(
      'check-node',
      [`http://127.0.0.1:${controlPort}`],
      { api: `http://127.0.0.1:${rt.apiPort as number}`, probe: `${nginx.url}/` },
      { env: { LOGWARDEN_NODE_SECRET: SECRET, LOGWARDEN_TOKEN: TOKEN }, out: (s) => (out += s), err: (s) => (out += s), stdin: () => undefined, interrupted: new AbortController().signal },
    );
    assert.equal(code, 0, out);
    assert.match(out, /listed in nodes: as edge-1/);
    assert.match(out, /the probe went through the access check/);
    assert.doesNotMatch(out, /FAIL|warn/);
  } finally {
    await rt.stop();
    await nginx.remove();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('the README\'s own-nginx.conf block passes nginx -t with the files of step 3 (load_module lines, the three includes)', { timeout: 60_000, skip: requireTool(debianNginxMissing(), debianNginxMissing() === '') }, async () => {
  const nginx = await debianNginx();
  try {
    const LW = join(nginx.root, 'logwarden');
    await runScript(readmeBlock('install'), { LW, NGINX: nginx.etc, INGESTER: '127.0.0.1:5514', SECRET });
    const conf = readmeBlock('own-nginx-conf')
      .replaceAll('/etc/logwarden', LW)
      // Not port 80 of every interface, and everything nginx writes under the test's directory.
      .replace('listen 80;', `listen 127.0.0.1:${nginx.port};`)
      .replace(/^http \{$/m, `pid ${nginx.root}/own.pid;\nhttp {\n    client_body_temp_path ${nginx.root}/tmp/own_body;`);
    const file = join(nginx.root, 'own-nginx.conf');
    writeFileSync(file, conf);
    await runScript('"$BIN" -t -p "$P/" -c "$F" -e "$P/own-error.log"', { BIN: '/usr/sbin/nginx', P: nginx.root, F: file }).then((o) => assert.match(o, /test is successful/));
  } finally {
    await nginx.remove();
  }
});

function runSed(file: string, from: string, to: string): void {
  execFileSync('sed', ['-i', `s|${from.replaceAll('.', '\\.')}|${to}|`, file], { cwd: REPO_ROOT });
}
