// End to end in embedded mode (in-process bus, embedded ClickHouse): a block and
// an unblock through the real API each produce one notification at a loopback
// receiver, signed; an enforcer whose node does not answer produces one
// node_out_of_sync notice.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiCaller } from '../../shared/testing/api-client.js';
import { testConfig } from '../../shared/testing/config.js';
import { freePort } from '../../shared/testing/nginx.js';
import { until } from '../../shared/testing/wait.js';
import { startRuntime, type Runtime } from '../runtime.js';
import { SIGNATURE_HEADER, verifySignature } from './index.js';
import { startReceiver, type Receiver } from './testing/receiver.js';

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-notify-api-'));
const TOKEN = 'lw_notify-admin-token-0123456789abcdef';
const SECRET = 'notify-api-signing-secret-0123456789';

interface Item { id: string; kind: string; ip?: string; subject?: string }

describe('notifications from the real API and enforcer (embedded mode)', () => {
  let rt: Runtime | undefined;
  let rx: Receiver | undefined;
  after(async () => {
    await rt?.stop();
    await rx?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const api = apiCaller(() => rt?.apiPort, TOKEN);
  const items = (): Item[] => (rx?.accepted() ?? []).flatMap((r) => (JSON.parse(r.body) as { items: Item[] }).items);

  test('a block through the API is notified once; its unblock once; a node out of sync once', async (t) => {
    rx = await startReceiver();
    // A node nobody listens on: the enforcer cannot reach it, so it is out of sync.
    const deadNode = `http://127.0.0.1:${await freePort()}`;
    const config = testConfig('notify-api', {
      dataDir,
      tokens: { admin: TOKEN },
      env: { HOOK_SECRET: SECRET, NODE_SECRET: 'notify-node-secret-0123456789' },
      sections: {
        ingest: { udp: { enabled: false } },
        security: { scan_interval: '200ms' },
        nodes: [{ name: 'edge-gone', url: deadNode, secret_env: 'NODE_SECRET' }],
        notifications: { targets: [{ name: 'soc', url: rx.url, secret_env: 'HOOK_SECRET', kinds: ['block', 'unblock', 'node_out_of_sync'], aggregate_window: '0s', max_items: 1, retry_initial: '50ms' }] },
      },
    });
    rt = await startRuntime(config, new Set(['api', 'sink', 'enforcer', 'notifier']));

    assert.equal((await api('POST', '/api/security/blocked-ips', { ip: '198.51.100.77', reason: 'notify test', duration: 3600 })).status, 201);
    const block = await until('the block notified', () => items().find((i) => i.kind === 'block' && i.ip === '198.51.100.77'));
    assert.match(block.id, /^decision:[0-9a-f]{32}$/);
    assert.equal((await api('DELETE', '/api/security/blocked-ips/198.51.100.77')).status, 200);
    await until('the unblock notified', () => items().find((i) => i.kind === 'unblock' && i.ip === '198.51.100.77'));
    const sync = await until('the node out of sync notified', () => items().find((i) => i.kind === 'node_out_of_sync'));
    assert.equal(sync.subject, 'edge-gone');

    // Several reconciles have failed by now (every 200 ms): still one notice for the spell.
    await until('more failed reconciles', async () => {
      const text = await (await fetch(`http://127.0.0.1:${rt?.apiPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      const m = /logwarden_enforcer_push_errors_total\{[^}]*node="edge-gone"[^}]*\} (\d+)/.exec(text);
      return m && Number(m[1]) >= 3 ? true : undefined;
    });
    const all = items();
    assert.equal(all.filter((i) => i.kind === 'block').length, 1, 'one block notification');
    assert.equal(all.filter((i) => i.kind === 'unblock').length, 1, 'one unblock notification');
    assert.equal(all.filter((i) => i.kind === 'node_out_of_sync').length, 1, 'one notice per spell');
    assert.equal(new Set(all.map((i) => i.id)).size, all.length, 'no item twice');
    const now = Math.floor(Date.now() / 1000);
    for (const r of rx.accepted()) assert.ok(verifySignature(SECRET, String(r.headers[SIGNATURE_HEADER]), r.body, now), 'every message signed');
    const s = rt.notifier?.stats().soc;
    t.diagnostic(`receiver: ${rx.received.length} requests, ${all.length} items; notifier: ${s?.delivered} delivered, ${s?.retries} retries`);
  });
});
