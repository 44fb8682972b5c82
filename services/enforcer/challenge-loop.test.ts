// The challenge tier end to end, in embedded mode against a real nginx: a
// client probing missing pages crosses detection.challenge_threshold; the
// detector's challenge decision goes through the decisions topic and the
// enforcer (which pushed the keys) to nginx, which answers the client with the
// challenge page; the access log of those answers comes back through the
// ingester, and the detector records them as challenge events, which the API
// lists; a client held at the page is not blocked for it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiCaller } from '../../shared/testing/api-client.js';
import { testConfig } from '../../shared/testing/config.js';
import { freePort, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';
import { freeUdpPort } from '../../shared/testing/ports.js';
import { until } from '../../shared/testing/wait.js';
import { startRuntime, type Runtime } from '../runtime.js';

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-challenge-loop-'));
const TOKEN = 'lw_challenge-loop-token-0123456789abcdef';
const SECRET = 'challenge-loop-control-secret-01';
let nginx: TestNginx | undefined;
let rt: Runtime | undefined;
after(async () => {
  await rt?.stop();
  await nginx?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('detection → challenge decision → enforcer → the page at nginx → challenge events in the API', { timeout: 180_000 }, async (t) => {
  // nginx first (its access log to the ingester's port), so the enforcer finds it at once.
  const udpPort = await freeUdpPort();
  nginx = await startTestNginx({ controlPort: await freePort(), controlSecret: SECRET, syslog: `127.0.0.1:${udpPort}` });
  const config = testConfig('chloop', {
    dataDir,
    tokens: { admin: TOKEN },
    env: { LOOP_SECRET: SECRET },
    sections: {
      ingest: { udp: { port: udpPort }, log_format: 'json' },
      security: { scan_interval: '300ms', auto_block_threshold: 50 },
      detection: { challenge_threshold: 10, challenge_duration: '1h' },
      nodes: [{ name: 'edge-1', url: nginx.controlUrl as string, secret_env: 'LOOP_SECRET' }],
    },
  });
  rt = await startRuntime(config, new Set(['ingester', 'detector', 'sink', 'api', 'enforcer']));
  const api = apiCaller(() => rt?.apiPort, TOKEN);
  const client = '192.0.2.140';
  const get = async (path: string): Promise<{ status: number; page: boolean }> => {
    const res = await fetch(`${(nginx as TestNginx).url}${path}`, { headers: { 'x-forwarded-for': client } });
    return { status: res.status, page: (await res.text()).includes('id="lw-challenge"') };
  };

  // 404s on new paths: not_found fires at the 10th, a weight of 10: the challenge threshold.
  const t0 = Date.now();
  let n = 0;
  await until('the challenge page at nginx', async () => {
    n++;
    return (await get(`/missing/probe-${n}`)).page ? true : undefined;
  }, 60_000, 100);
  t.diagnostic(`challenged after ${n} probes, ${Date.now() - t0} ms from the first`);
  const listed = await until('the challenge in the API', async () => {
    const data = (await api('GET', `/api/security/blocked-ips?ip=${client}`)).body.data as Array<{ action: string; source: string; reason: string }> | undefined;
    return data?.find((b) => b.action === 'challenge');
  });
  assert.equal(listed.source, 'auto');
  assert.match(listed.reason, /challenge threshold 10/);

  // Held at the page: its answers come back as challenge events, and are no evidence.
  for (let i = 0; i < 5; i++) assert.ok((await get(`/missing/held-${i}`)).page);
  const events = await until('challenge events in the API', async () => {
    const data = (await api('GET', `/api/security/events?ip=${client}&type=challenge`)).body.data as Array<{ detector: string; count: number }> | undefined;
    const issued = (data ?? []).filter((e) => e.detector === 'challenge:issued').reduce((s, e) => s + e.count, 0);
    return issued >= 5 ? issued : undefined;
  });
  t.diagnostic(`${events} challenge:issued requests recorded`);
  const blocks = (await api('GET', `/api/security/blocked-ips?ip=${client}`)).body.data as Array<{ action: string }>;
  assert.deepEqual(blocks.map((b) => b.action), ['challenge'], 'challenged, not blocked');
});
