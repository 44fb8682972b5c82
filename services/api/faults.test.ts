// Fault: ClickHouse unavailable under the API. Reads that need storage get a
// clear 503 (LW_API_STORAGE_UNAVAILABLE) at once when ClickHouse refuses, and
// in bounded time when it does not answer at all; nothing is a 500 and nothing
// hangs; probes tell liveness from readiness; once ClickHouse is back, the
// same reads answer. ClickHouse is the real engine behind a fault-injecting
// wrapper (shared/testing/faulty-clickhouse.ts): the embedded engine cannot be
// stopped, so the outage is played at the client boundary.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryBus } from '../../shared/bus/memory.js';
import { migrate } from '../../shared/clickhouse/migrate.js';
import { openTestClickHouse, removeTestDataDir, type TestClickHouse } from '../../shared/clickhouse/testing.js';
import { loadConfig } from '../../shared/config/load.js';
import { ControlState } from '../../shared/control/state.js';
import { ControlStore } from '../../shared/control/store.js';
import { faultyClickHouse, type FaultyClickHouse } from '../../shared/testing/faulty-clickhouse.js';
import { topicNames } from '../../shared/topics.js';
import { hashToken } from '../../shared/auth/tokens.js';
import { buildApi } from './server.js';

const ANALYST = 'lw_fault-analyst-token-0123456789abcdef';
// A read waits at most this long for ClickHouse in these tests (the default is 10 s).
const DEADLINE_MS = 300;
// Longer than any answer may take here: a request still open after this is a hang.
const HANG_GUARD_MS = 20_000;

after(() => removeTestDataDir());

describe('ClickHouse unavailable under the API', () => {
  let t: TestClickHouse;
  let ch: FaultyClickHouse;
  let app: ReturnType<typeof buildApi>;
  const bus = new MemoryBus();

  before(async () => {
    t = await openTestClickHouse('api_fault');
    await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
    // A blackholed server: calls would wait a minute (the client's own timeout is 30 s).
    ch = faultyClickHouse(t.ch, 60_000);
    const topics = topicNames('apifault.');
    await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 1 })));
    const config = loadConfig({ text: `api: { port: 0, tokens: [{ name: soc, role: analyst, hash: "${hashToken(ANALYST)}" }] }\nlog_level: silent`, env: {} });
    const control = new ControlState();
    app = buildApi({
      config, bus, ch, version: 'test', topics,
      control: { state: control, store: new ControlStore(ch, bus, topics, control) },
      storageTimeoutMs: DEADLINE_MS,
    });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await bus.close();
    await t.dispose();
  });

  const get = async (url: string): Promise<{ status: number; code: unknown }> => {
    const answer = app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${ANALYST}` } });
    const res = await Promise.race([answer, sleep(HANG_GUARD_MS).then(() => undefined)]);
    assert.ok(res, `GET ${url} did not answer within ${HANG_GUARD_MS} ms: a hang`);
    let body: { error?: { code?: unknown }; code?: unknown } = {};
    try {
      body = res.json();
    } catch {
      // not JSON (a page)
    }
    return { status: res.statusCode, code: body.error?.code ?? body.code };
  };

  /** Every GET the analyst may call that takes no path parameter, from the API's own OpenAPI document. */
  const readRoutes = async (): Promise<string[]> => {
    const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{ paths: Record<string, Record<string, unknown>> }>();
    return Object.entries(doc.paths).filter(([path, ops]) => path.startsWith('/api/') && 'get' in ops && !path.includes('{') && !/stream|docs/.test(path)).map(([path]) => path);
  };
  const STORAGE_READS = ['/api/security/events', '/api/security/stats'];

  for (const fault of ['refused', 'hang'] as const) {
    test(`ClickHouse ${fault === 'refused' ? 'refusing connections' : 'not answering'}: storage reads get 503 LW_API_STORAGE_UNAVAILABLE, no route fails otherwise or hangs`, { timeout: 120_000 }, async (tc) => {
      ch.fault = fault;
      try {
        for (const url of STORAGE_READS) {
          assert.deepEqual(await get(url), { status: 503, code: 'LW_API_STORAGE_UNAVAILABLE' }, url);
        }
        assert.equal((await get('/readyz')).status, 503, 'not ready');
        assert.equal((await get('/healthz')).status, 200, 'alive: an orchestrator must not restart it for a dependency');
        const routes = await readRoutes();
        assert.ok(routes.length >= 8, `the OpenAPI document lists the read routes (${routes.length})`);
        const answers: string[] = [];
        for (const url of routes) {
          const r = await get(url);
          answers.push(`${url} ${r.status}`);
          assert.ok(r.status < 500 || (r.status === 503 && r.code === 'LW_API_STORAGE_UNAVAILABLE'), `${url}: ${r.status} ${String(r.code)}`);
        }
        tc.diagnostic(answers.join(', '));
      } finally {
        ch.fault = 'none';
      }
    });
  }

  test('ClickHouse back: the same reads answer', async () => {
    ch.fault = 'none';
    for (const url of STORAGE_READS) assert.equal((await get(url)).status, 200, url);
    assert.equal((await get('/readyz')).status, 200);
  });
});
