// The siem: block at load: the transport from the URL's scheme, the auth
// header only from the environment or a file, units in values, every problem
// named by its key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './load.js';

function issues(targets: unknown[], env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfig({ text: JSON.stringify({ siem: { targets } }), env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.map((i) => `${i.path}: ${i.reason}`);
  }
  return [];
}

test('defaults with units, the transport from the scheme, the header value from the environment or a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logwarden-siem-config-'));
  try {
    writeFileSync(join(dir, 'auth'), 'Bearer from-a-file\n');
    const c = loadConfig({
      text: JSON.stringify({ siem: { targets: [
        { name: 'syslog', url: 'syslog+tcp://10.0.0.9:6514' },
        { name: 'lines', url: 'tcp://[2001:db8::9]:5000', records: ['blocks'], min_severity: 'high' },
        { name: 'elastic', url_env: 'SIEM_URL', header_env: 'SIEM_AUTH', header: 'X-Api-Key' },
        { name: 'local', url: 'http://127.0.0.1:9200/_bulk', header_file: join(dir, 'auth') },
      ] } }),
      env: { SIEM_URL: 'https://siem.example.org/ingest', SIEM_AUTH: 'k-123' },
    });
    const [a, b, e, l] = c.siem.targets;
    assert.ok(a && b && e && l);
    assert.deepEqual(
      { transport: a.transport, records: a.records, min: a.min_severity, batch: a.batch_size, flush: a.flush_interval_ms, queue: a.queue_max_bytes, timeout: a.timeout_ms, ri: a.retry_initial_ms, rm: a.retry_max_ms, give: a.give_up_after_ms, header: a.header_value },
      { transport: 'syslog', records: ['events', 'blocks'], min: 'low', batch: 500, flush: 200, queue: 16 * 1024 * 1024, timeout: 10_000, ri: 1000, rm: 60_000, give: 3_600_000, header: '' },
    );
    assert.deepEqual([b.transport, b.records, b.min_severity], ['tcp', ['blocks'], 'high']);
    assert.deepEqual([e.transport, e.url, e.header, e.header_value], ['http', 'https://siem.example.org/ingest', 'X-Api-Key', 'k-123']);
    assert.deepEqual([l.transport, l.header_value], ['http', 'Bearer from-a-file']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a secret written in the file is refused, naming the key and never echoing the value', () => {
  for (const key of ['token', 'header_value', 'authorization', 'password', 'secret', 'api_key']) {
    const found = issues([{ name: 'soc', url: 'https://siem.example.org/in', [key]: 'hunter2-hunter2' }]);
    assert.deepEqual(found, [`siem.targets[0].${key}: secrets are never written in the config file: set header_env (an environment variable) or header_file (a file) instead`], key);
  }
  assert.deepEqual(issues([{ name: 'soc', url: 'https://u:hunter2@siem.example.org/in' }]).map((i) => i.split(':')[0]), ['siem.targets[0].url']);
});

test('every bad key is named', () => {
  const at = (t: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string[] => issues([{ name: 'soc', ...t }], env);
  assert.deepEqual(at({ url: 'udp://10.0.0.9:514' }), ['siem.targets[0].url: must be an http://, https://, syslog+tcp:// or tcp:// URL']);
  assert.deepEqual(at({ url: 'syslog+tcp://10.0.0.9' }), ['siem.targets[0].url: must name a host and a port: syslog+tcp://host:port']);
  assert.deepEqual(at({ url: 'http://siem.example.org/in' }), ['siem.targets[0].url: plain http is only for loopback receivers: use https']);
  assert.deepEqual(at({}), ['siem.targets[0].url: set exactly one of url, url_env, url_file']);
  assert.deepEqual(at({ url_env: 'NOPE' }), ['siem.targets[0].url_env: NOPE is unset or empty']);
  assert.deepEqual(at({ url: 'tcp://10.0.0.9:5000', header_env: 'H' }, { H: 'Bearer x' }), ['siem.targets[0].header_env: an auth header is for http(s) targets only']);
  assert.deepEqual(at({ url: 'https://siem.example.org/in', header_env: 'H' }), ['siem.targets[0].header_env: H is unset or empty']);
  assert.deepEqual(at({ url: 'https://siem.example.org/in', queue_max: '16MB7' }), ['siem.targets[0].queue_max: must be a size such as 512KiB, 16MiB or 1GiB']);
  assert.deepEqual(at({ url: 'https://siem.example.org/in', queue_max: '100B' }), ['siem.targets[0].queue_max: must be at least 1KiB']);
  assert.deepEqual(at({ url: 'https://siem.example.org/in', flush_interval: '500' }), ['siem.targets[0].flush_interval: must be a duration such as 500ms, 30s, 2m, 24h or 7d']);
  assert.deepEqual(at({ url: 'https://siem.example.org/in', retry_initial: '1m', retry_max: '1s' }), ['siem.targets[0].retry_max: retry_initial must be above 0 and retry_max at least retry_initial']);
  assert.deepEqual(at({ url: 'https://siem.example.org/in', min_severity: 'urgent' }).map((i) => i.split(':')[0]), ['siem.targets[0].min_severity']);
  assert.deepEqual(at({ url: 'https://siem.example.org/in', records: ['requests'] }).map((i) => i.split(':')[0]), ['siem.targets[0].records[0]']);
  assert.deepEqual(at({ url: 'https://siem.example.org/in', batch: 5 }).map((i) => i.split(':')[0]), ['siem.targets[0].batch']);
  assert.deepEqual(issues([{ name: 'a', url: 'tcp://127.0.0.1:1' }, { name: 'a', url: 'tcp://127.0.0.1:2' }]), ['siem.targets[1].name: a names another target too']);
});
