// `logwarden check-config` prints the effective configuration with every
// secret it resolved masked: passwords, signing secrets, URLs read from
// url_env/url_file, and a SIEM target's auth header value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('./main.js', import.meta.url));

test('check-config masks a SIEM target\'s auth header value and a webhook URL read from the environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logwarden-check-config-'));
  try {
    const file = join(dir, 'logwarden.yaml');
    writeFileSync(file, [
      'siem:',
      '  targets:',
      '    - { name: elastic, url: "https://siem.example.org/in", header_env: SIEM_AUTH }',
      'notifications:',
      '  targets:',
      '    - { name: chat, format: slack, url_env: SLACK_URL, kinds: [block] }',
      '',
    ].join('\n'));
    const env = { ...process.env, SIEM_AUTH: 'ApiKey siem-secret-value-42', SLACK_URL: 'https://hooks.slack.com/services/T0/B0/slack-secret-43', LOGWARDEN_CONFIG: '' };
    const r = spawnSync(process.execPath, [cli, 'check-config', '-c', file], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const c = JSON.parse(r.stdout) as { siem: { targets: Array<{ header_value: string; transport: string }> }; notifications: { targets: Array<{ url: string }> } };
    assert.equal(c.siem.targets[0]?.header_value, '[set]');
    assert.equal(c.siem.targets[0]?.transport, 'http');
    assert.equal(c.notifications.targets[0]?.url, '[set]');
    assert.ok(!r.stdout.includes('siem-secret-value-42') && !r.stdout.includes('slack-secret-43'), 'no secret printed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
