// The notifications: block at load: secrets only from the environment or a
// file, every problem named by its key, rate limits and durations resolved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './load.js';

const SECRET = 'a-signing-secret-of-32-characters';

function issues(targets: unknown[], env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfig({ text: JSON.stringify({ notifications: { targets } }), env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'LW_CONFIG_INVALID');
    return err.issues.map((i) => `${i.path}: ${i.reason}`);
  }
  return [];
}

test('a secret written in the file is refused, naming the key and never echoing the value', () => {
  const found = issues([{ name: 'soc', url: 'https://soc.example.org/hook', secret: 'hunter2-hunter2-hunter2', kinds: ['block'] }], { S: SECRET });
  const line = found.find((i) => i.startsWith('notifications.targets[0].secret:'));
  assert.ok(line, found.join('\n'));
  assert.match(line, /never written in the config file: set secret_env .* or secret_file/);
  assert.ok(!found.join('\n').includes('hunter2'));
  for (const key of ['token', 'password', 'signing_secret']) {
    assert.ok(issues([{ name: 'soc', url: 'https://soc.example.org/hook', secret_env: 'S', [key]: 'x', kinds: ['block'] }], { S: SECRET }).some((i) => i.startsWith(`notifications.targets[0].${key}:`)), key);
  }
});

test('URLs carrying secrets are refused inline: user:password@, and a Slack-compatible webhook URL', () => {
  assert.deepEqual(issues([{ name: 'a', url: 'https://user:pw@soc.example.org/hook', secret_env: 'S', kinds: ['block'] }], { S: SECRET }), [
    'notifications.targets[0].url: carries credentials (user:password@): put the URL in url_env or url_file',
  ]);
  assert.deepEqual(issues([{ name: 'b', format: 'slack', url: 'https://hooks.slack.com/services/T0/B0/X', kinds: ['block'] }]), [
    'notifications.targets[0].url: a Slack-compatible webhook URL is a secret: put it in url_env or url_file',
  ]);
});

test('a json target needs a signing secret; plain http only to loopback; one URL source; unique names', () => {
  const found = issues([
    { name: 'a', url: 'https://soc.example.org/hook', kinds: ['block'] },
    { name: 'a', url: 'http://soc.example.org/hook', secret_env: 'S', kinds: ['block'] },
    { name: 'c', url: 'https://x.example.org/', url_env: 'U', secret_env: 'S', kinds: ['block'] },
    { name: 'd', url_env: 'UNSET', secret_env: 'S', kinds: ['block'] },
  ], { S: SECRET });
  assert.deepEqual(found, [
    'notifications.targets[0].secret_env: the signing secret is unset: a json target needs a signing secret (secret_env or secret_file)',
    'notifications.targets[1].name: a names another target too',
    'notifications.targets[1].url: plain http is only for loopback receivers: use https',
    'notifications.targets[2].url: set exactly one of url, url_env, url_file',
    'notifications.targets[3].url_env: UNSET is unset or empty',
  ]);
});

test('bad values are named by their key: kind, rate limit, duration', () => {
  const found = issues([{ name: 'a', url: 'https://soc.example.org/hook', secret_env: 'S', kinds: ['blocks'], rate_limit: '20 per minute', aggregate_window: '5 seconds' }], { S: SECRET });
  assert.ok(found.some((i) => i.startsWith('notifications.targets[0].kinds[0]:')), found.join('\n'));
  assert.ok(found.some((i) => i.startsWith('notifications.targets[0].rate_limit:')), found.join('\n'));
  assert.ok(found.some((i) => i.startsWith('notifications.targets[0].aggregate_window: must be a duration')), found.join('\n'));
});

test('secrets and URLs from the environment or a file; defaults and units resolved', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logwarden-notify-config-'));
  try {
    writeFileSync(join(dir, 'secret'), `${SECRET}\n`);
    writeFileSync(join(dir, 'url'), 'https://hooks.example.org/services/T/B/X\n');
    const c = loadConfig({
      text: JSON.stringify({ notifications: { targets: [
        { name: 'soc', url: 'https://soc.example.org/hook', secret_file: join(dir, 'secret'), kinds: ['block', 'event'], detectors: ['signature:*'], rate_limit: '3/10s' },
        { name: 'chat', format: 'slack', url_file: join(dir, 'url'), kinds: ['node_out_of_sync'], aggregate_window: '30s' },
      ] } }),
      env: {},
    });
    const [soc, chat] = c.notifications.targets;
    assert.equal(soc?.secret, SECRET);
    assert.equal(soc?.rate_limit_count, 3);
    assert.equal(soc?.rate_limit_interval_ms, 10_000);
    assert.equal(soc?.aggregate_window_ms, 5_000);
    assert.equal(soc?.retry_initial_ms, 1_000);
    assert.equal(soc?.queue_max, 1000);
    assert.equal(chat?.url, 'https://hooks.example.org/services/T/B/X');
    assert.equal(chat?.secret, '');
    assert.equal(chat?.aggregate_window_ms, 30_000);
    assert.deepEqual(loadConfig({ text: '' }).notifications.targets, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
