// The Grafana dashboard (infra/grafana/) and the Prometheus alert rules
// (infra/prometheus/) name only metrics a running instance exports: each is
// read from the /metrics of `logwarden all` (every service in one process,
// embedded mode), so a renamed or removed metric fails here, not on a
// dashboard at 3 a.m.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { testConfig } from '../shared/testing/config.js';
import { startRuntime, SERVICES } from './runtime.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-metrics-catalog-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const METRIC = /\blogwarden_[a-z0-9_]+/g;

/** Every metric an expression names (a histogram's _bucket/_sum/_count series under its own name). */
function named(exprs: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const e of exprs) for (const m of e.matchAll(METRIC)) out.add(m[0].replace(/_(bucket|sum|count)$/, ''));
  return out;
}

test('every metric the dashboard and the alert rules name exists in /metrics of a running instance', { timeout: 60_000 }, async () => {
  const dashboard = JSON.parse(readFileSync(join(root, 'infra/grafana/logwarden-dashboard.json'), 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
  const alerts = parseYaml(readFileSync(join(root, 'infra/prometheus/logwarden-alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  const dashboardMetrics = named(dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)));
  const alertMetrics = named(alerts.groups.flatMap((g) => g.rules.map((r) => r.expr)));
  assert.ok(dashboardMetrics.size >= 15, `the dashboard names the pipeline's metrics (${dashboardMetrics.size})`);
  assert.ok(alertMetrics.size >= 4, `the alert rules name metrics (${alertMetrics.size})`);

  const config = testConfig('catalog', { dataDir, sections: { ingest: { udp: { port: 0 }, tcp: { enabled: false } } } });

  const rt = await startRuntime(config, new Set(SERVICES));
  try {
    const text = await (await fetch(`http://127.0.0.1:${rt.apiPort}/metrics`)).text();
    const exported = new Set([...text.matchAll(/^# HELP (logwarden_[a-z0-9_]+) /gm)].map((m) => m[1] as string));
    assert.ok(exported.size > 40, `/metrics lists logwarden's metrics (${exported.size})`);
    const missing = [...dashboardMetrics, ...alertMetrics].filter((m) => !exported.has(m));
    assert.deepEqual([...new Set(missing)], [], 'metrics named by the dashboard or the alert rules but not exported');
  } finally {
    await rt.stop();
  }
});
