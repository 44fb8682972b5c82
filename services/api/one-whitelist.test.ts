// One whitelist, honoured everywhere: an entry from the config file's
// detection.whitelist, one added through the API for every deployment and one
// for a single deployment reach the detectors (per deployment too), the API's
// block checks and the nodes (a real nginx with the Lua module). Embedded mode:
// the in-process bus, embedded ClickHouse, the enforcer pushing to the nginx.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { securityEventCodec } from '../../shared/avro/codec.js';
import type { Config } from '../../shared/config/load.js';
import { testConfig } from '../../shared/testing/config.js';
import type { SecurityEvent } from '../../shared/records.js';
import { apiCaller } from '../../shared/testing/api-client.js';
import { probe } from '../../shared/testing/bus-probe.js';
import { nginxRequest, untilAnswers } from '../../shared/testing/nginx-client.js';
import { freePort, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';
import { startRuntime } from '../runtime.js';

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-one-whitelist-'));
const TOKEN = 'lw_one-whitelist-admin-token-012345678';
const SECRET = 'one-whitelist-control-secret-0123';
// Real source addresses (all of 127.0.0.0/8 is loopback).
const FROM_CONFIG = '127.0.91.1';
const FROM_API = '127.0.91.2';
const FOR_OTHER = '127.0.91.3';

function config(nginx: TestNginx): Config {
  return testConfig('onewl', {
    dataDir,
    tokens: { admin: TOKEN },
    env: { ONEWL_SECRET: SECRET },
    sections: {
      ingest: { udp: { port: 0 }, tcp: { enabled: false } },
      security: { scan_interval: '300ms' },
      detection: { whitelist: { ips: [FROM_CONFIG] } },
      nodes: [{ name: 'edge-1', url: nginx.controlUrl as string, secret_env: 'ONEWL_SECRET' }],
    },
  });
}

/** A scanner's 404s from `ip` in `deployment`, as nginx sends them over syslog. */
async function scan(port: number, ip: string, deployment: string, n: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  for (let i = 0; i < n; i++) {
    const line = `<190>Dec  6 10:00:00 edge-1 nginx: {"ts":"${(Date.now() / 1000).toFixed(3)}","client_ip":"${ip}","deployment":"${deployment}","method":"GET","host":"shop.example","uri":"/probe-${deployment}-${i}.php","status":"404","bytes":"0","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0"}`;
    await new Promise<void>((resolve, reject) => socket.send(line, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  }
  socket.close();
}

test('one whitelist: config and API entries, global and per deployment, each honoured where it applies (detectors, API, nodes), and only there', { timeout: 120_000 }, async () => {
  const nginx = await startTestNginx({ controlPort: await freePort(), controlSecret: SECRET });
  const rt = await startRuntime(config(nginx), new Set(['ingester', 'detector', 'sink', 'api', 'enforcer'] as const));
  const api = apiCaller(() => rt.apiPort, TOKEN);
  const edge = async (path: string, client: string): Promise<number> => (await nginxRequest({ port: nginx.port, path, client })).status;
  const until = untilAnswers;
  const sub = await probe(rt.bus, rt.topics.events, (m) => securityEventCodec.decode(m.value));
  const events: SecurityEvent[] = sub.items;
  try {
    assert.equal((await api('POST', '/api/security/whitelist', { type: 'ip', value: FROM_API, description: 'global, through the API' })).status, 201);
    assert.equal((await api('POST', '/api/security/whitelist', { type: 'ip', value: FOR_OTHER, description: 'one deployment', deployment: 'other' })).status, 201);

    // The API's block checks.
    for (const ip of [FROM_CONFIG, FROM_API]) {
      const r = await api('POST', '/api/security/blocked-ips', { ip, reason: 'test' });
      assert.equal(r.status, 409, `${ip}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, 'LW_API_WHITELISTED');
    }
    assert.equal((await api('POST', '/api/security/blocked-ips', { ip: FOR_OTHER, reason: 'test', deployment: 'other' })).status, 409, 'a block for its own deployment is refused');

    // The nodes: blocked anyway (forced), each is let through where its entry holds.
    for (const ip of [FROM_CONFIG, FROM_API, FOR_OTHER]) assert.equal((await api('POST', '/api/security/blocked-ips', { ip, reason: 'forced', force: true })).status, 201);
    await until(`${FOR_OTHER} blocked outside its deployment`, () => edge('/', FOR_OTHER), 403);
    assert.equal(await edge('/', FROM_CONFIG), 200, 'the config file entry at the node');
    assert.equal(await edge('/', FROM_API), 200, 'the global API entry at the node');
    assert.equal(await edge('/other-deployment/', FOR_OTHER), 200, 'the per-deployment entry, in its deployment');
    assert.equal(await edge('/', FOR_OTHER), 403, '... and not in another');
    for (const ip of [FROM_CONFIG, FROM_API, FOR_OTHER]) assert.equal((await api('DELETE', `/api/security/blocked-ips/${ip}`)).status, 200);

    // The detectors (restarted with the new whitelist, debounced): a scan from each.
    await sleep(1500);
    const port = rt.udpPort as number;
    await scan(port, FROM_CONFIG, 'logwarden-test', 30);
    await scan(port, FROM_API, 'logwarden-test', 30);
    await scan(port, FOR_OTHER, 'other', 30);
    await scan(port, FOR_OTHER, 'logwarden-test', 30);
    const deadline = Date.now() + 20_000;
    while (!events.some((e) => e.ip === FOR_OTHER && e.deployment === 'logwarden-test') && Date.now() < deadline) await sleep(50);
    assert.ok(events.some((e) => e.ip === FOR_OTHER && e.deployment === 'logwarden-test'), 'the per-deployment entry does not hold in another deployment');
    await sleep(500);
    assert.deepEqual(events.filter((e) => e.ip === FROM_CONFIG || e.ip === FROM_API || (e.ip === FOR_OTHER && e.deployment === 'other')).map((e) => `${e.ip} ${e.deployment} ${e.detector}`), []);
  } finally {
    await sub.close();
    await rt.stop();
    await nginx.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
