// The syslog+tcp:// framing against a real rsyslog: rsyslogd's imtcp (its
// defaults, octet-counted framing detected) on a loopback port takes what a
// SIEM target sends, parses each as RFC 5424 (APP-NAME, MSGID, severity) and
// writes MSG to a file: every line is an ECS document of the README's tables.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockDecisionCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import { loadConfig } from '../../shared/config/load.js';
import { freePort } from '../../shared/local-nginx.js';
import type { SecurityEvent } from '../../shared/records.js';
import { checkEcsDocument, documentedFields } from '../../shared/testing/ecs-check.js';
import { requireTool } from '../../shared/testing/require-tool.js';
import { until } from '../../shared/testing/wait.js';
import { topicNames, topicSpecs } from '../../shared/topics.js';
import { startSiem, type SiemPush } from './siem.js';

const hasRsyslog = spawnSync('rsyslogd', ['-v'], { stdio: 'ignore' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'logwarden-siem-rsyslog-'));

describe('SIEM push to a real rsyslog (imtcp)', { skip: requireTool('rsyslogd (Debian package rsyslog: bash loadtest/peers/apt-install.sh rsyslog)', hasRsyslog) }, () => {
  let child: ChildProcess | undefined;
  let push: SiemPush | undefined;
  const bus = new MemoryBus();
  after(async () => {
    await push?.stop(500);
    await bus.close();
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child?.once('exit', resolve));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('rsyslog takes each octet-counted RFC 5424 message whole: app, msgid, severity, and MSG an ECS document', async () => {
    const port = await freePort();
    const out = join(dir, 'siem.log');
    writeFileSync(join(dir, 'rsyslog.conf'), `global(workDirectory="${dir}" maxMessageSize="64k")
module(load="imtcp")
template(name="fields" type="string" string="%app-name% %msgid% %syslogseverity% %msg%\\n")
ruleset(name="siem") { action(type="omfile" file="${out}" template="fields") }
input(type="imtcp" address="127.0.0.1" port="${port}" ruleset="siem")
`);
    child = spawn('rsyslogd', ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslog.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));

    const config = loadConfig({ text: JSON.stringify({ siem: { targets: [{ name: 'rsyslog', url: `syslog+tcp://127.0.0.1:${port}`, flush_interval: '20ms', retry_initial: '100ms', retry_max: '500ms' }] }, log_level: 'silent' }), env: {} });
    const topics = topicNames(config.kafka.topic_prefix);
    await bus.ensureTopics(topicSpecs(config, topics));
    push = await startSiem({ bus, topics, kafka: config.kafka, targets: config.siem.targets });
    const now = Date.now();
    const events: SecurityEvent[] = Array.from({ length: 40 }, (_, i) => ({
      id: `rs-${i}`, ts: now + i, type: i % 4 === 0 ? 'blocked_ip' : 'scan_detected', detector: 'unique_paths', ip: `203.0.113.${i}`, deployment: 'shop', count: 20,
      window_start: now - 120_000, window_end: now + i, sample_paths: ['/.env', '/a b "c"'], details: { note: 'ünïcödé' },
    }));
    await bus.publish(topics.events, events.map((e) => ({ key: 'one', value: securityEventCodec.encode(e) })));
    await bus.publish(topics.decisions, [{ key: '198.51.100.7', value: blockDecisionCodec.encode({ ip: '198.51.100.7', action: 'block', reason: 'rsyslog test', source: 'manual', created_at: now, expires_at: null, deployment: null, escalation_level: 0, actor: 'api:ops' }) }]);

    const lines = (): string[] => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter((l) => l !== '') : []);
    await until(`rsyslog wrote 41 messages${stderr ? ` (rsyslogd: ${stderr.trim()})` : ''}`, () => (lines().length >= 41 ? true : undefined), 30_000);
    const eventFields = documentedFields('ecs-fields');
    const blockFields = documentedFields('ecs-block-fields');
    const ids: string[] = [];
    for (const line of lines()) {
      const m = /^(\S+) (\S+) (\d) (.*)$/.exec(line);
      assert.ok(m, line.slice(0, 120));
      const [, app, msgid, severity, msg] = m as unknown as [string, string, string, string, string];
      const doc = JSON.parse(msg.trimStart()) as Record<string, unknown> & { event: { id: string; action: string } };
      assert.equal(app, 'logwarden');
      assert.ok(msgid === 'event' || msgid === 'block', msgid);
      checkEcsDocument(doc, msgid === 'event' ? eventFields : blockFields);
      assert.equal(Number(severity), doc.event.action === 'scan_detected' ? 5 : 4, `${doc.event.action}: syslog severity from event.severity`);
      ids.push(doc.event.id);
    }
    assert.deepEqual(ids.filter((id) => id.startsWith('rs-')), events.map((e) => e.id), 'each event whole, once, in order');
    assert.equal(ids.filter((id) => id.startsWith('decision:')).length, 1);
  });
});
