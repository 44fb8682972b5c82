// The `npm start` banner's nginx steps agree with what ships: the snippets in
// lua/conf/ (their file names, the values they tell the operator to edit, the
// control listener's address and the secret's rule), the config defaults
// (the ingester's syslog address), and the README's "Point nginx at it" (its
// load_module lines, includes and nodes: entry). A snippet, a default or the
// README changed alone fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../shared/config/load.js';
import { readmeBlock } from '../../shared/testing/debian-nginx.js';
import { CONTROL_LISTEN, INCLUDES, LOAD_MODULES, LUA_DIR, nginxSteps } from './nginx-steps.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const defaults = loadConfig({ text: '{}', env: {} });

test('the banner\'s steps name the shipped snippets, their editable values and the defaults', () => {
  const text = nginxSteps({ udpHost: defaults.ingest.udp.host, udpPort: defaults.ingest.udp.port, nodes: [] }).join('\n');
  // Each include names a shipped file, installed where the snippets expect lua/ to be.
  for (const line of Object.values(INCLUDES)) {
    assert.ok(text.includes(line), line);
    const file = /conf\/(logwarden-[a-z]+\.conf);$/.exec(line)?.[1] as string;
    assert.ok(existsSync(join(root, 'lua/conf', file)), file);
  }
  const http = read('lua/conf/logwarden-http.conf');
  const server = read('lua/conf/logwarden-server.conf');
  const control = read('lua/conf/logwarden-control.conf');
  assert.ok(http.includes(`lua_package_path "${LUA_DIR}/?.lua;`), 'lua_package_path names the directory the banner installs to');
  // The syslog address the server snippet ships with is the ingester's default, and the banner says to replace it.
  const shipped = `syslog:server=${defaults.ingest.udp.host}:${defaults.ingest.udp.port}`;
  assert.ok(server.includes(shipped), shipped);
  assert.ok(text.includes(`${shipped} → syslog:server=`), 'the banner shows the edit of the syslog address');
  assert.ok(server.includes('access_by_lua_block { require("logwarden.access").check() }'), 'the server snippet holds the access check');
  // The control listener: its address, its empty secret (503), the 16-character minimum, allow_remote.
  assert.ok(control.includes(`listen ${CONTROL_LISTEN};`), CONTROL_LISTEN);
  assert.ok(control.includes('set $logwarden_control_secret "";') && control.includes('every call gets 503'));
  assert.ok(read('lua/logwarden/control.lua').includes('local MIN_SECRET = 16'));
  assert.ok(control.includes('set $logwarden_control_allow_remote "off";'));
  assert.match(text, /\$logwarden_control_secret "<16\+ characters>"; \(empty: every call gets 503\)/);
  assert.match(text, /\$logwarden_control_allow_remote "on"/);
  assert.ok(text.includes(`url: "http://${CONTROL_LISTEN}", secret_env: LOGWARDEN_NODE_SECRET`));
  assert.equal(defaults.ingest.udp.host, '127.0.0.1');
  assert.match(text, /loopback: nginx on this host only; for others set ingest\.udp\.host/);
});

test('the banner and the README\'s setup blocks agree (modules, includes, nodes: entry)', () => {
  const own = readmeBlock('own-nginx-conf');
  for (const line of LOAD_MODULES) assert.ok(own.includes(line), `README: ${line}`);
  for (const line of Object.values(INCLUDES)) assert.ok(own.includes(line), `README: ${line}`);
  const nodes = (parseYaml(readmeBlock('nodes')) as { nodes: Array<{ name: string; url: string; secret_env: string }> }).nodes;
  assert.deepEqual(nodes, [{ name: 'edge-1', url: `http://${CONTROL_LISTEN}`, secret_env: 'LOGWARDEN_NODE_SECRET' }]);
  // The README's values and sed lines edit exactly what the snippets ship.
  const install = readmeBlock('install');
  assert.ok(install.includes('s|/etc/logwarden/lua|$LW/lua|g'));
  assert.ok(install.includes(`s|syslog:server=${defaults.ingest.udp.host}:${defaults.ingest.udp.port}|syslog:server=$INGESTER|`));
  assert.ok(install.includes('s|logwarden_control_secret \\"\\"|logwarden_control_secret \\"$SECRET\\"|'));
});

test('with nodes configured, the banner names them and checks the first', () => {
  const lines = nginxSteps({ udpHost: '0.0.0.0', udpPort: 5514, nodes: [{ name: 'edge-1', url: 'http://10.0.0.5:8091', secret_env: 'NODE_SECRET', secret_file: '' }] }).join('\n');
  assert.match(lines, /nodes: edge-1 \(http:\/\/10\.0\.0\.5:8091\); secret from \$NODE_SECRET/);
  assert.match(lines, /check-node http:\/\/10\.0\.0\.5:8091 /);
  assert.match(lines, /syslog:server=THIS-HOST:5514 \(every interface/);
});
