import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { refusal, runningBrokers } from './report-broker.js';

test('a process running kafka.Kafka is found, with the properties file it was given', async () => {
  const config = join(tmpdir(), 'stray-broker', 'server.properties');
  // A real process whose command line is a broker's main class and properties file.
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', 'kafka.Kafka', config], { stdio: 'ignore' });
  await once(child, 'spawn');
  try {
    const found = runningBrokers().find((b) => b.pid === child.pid);
    assert.deepEqual(found, { pid: child.pid, config });
    assert.ok(!runningBrokers().some((b) => b.pid === process.pid), 'this test process is not a broker');
    const message = refusal([found]);
    assert.match(message, new RegExp(`pid ${child.pid} \\(${config.replace(/[.]/g, '\\.')}\\)`));
    assert.match(message, /--allow-running-broker/);
  } finally {
    child.kill();
  }
  await once(child, 'exit');
  assert.ok(!runningBrokers().some((b) => b.pid === child.pid), 'an ended process is no longer listed');
});

test('a broker started without a properties file, and entries that are not processes, are read as such', () => {
  const proc = mkdtempSync(join(tmpdir(), 'proc-'));
  try {
    const entry = (name: string, cmdline: string): void => {
      mkdirSync(join(proc, name));
      writeFileSync(join(proc, name, 'cmdline'), cmdline);
    };
    entry('41', ['java', '-Xmx1G', 'kafka.Kafka'].join('\0'));
    entry('7', ['java', '-cp', 'x', 'kafka.Kafka', '/etc/kafka/server.properties', '--override', 'a=b'].join('\0'));
    entry('9', ['java', '-cp', 'kafka.Kafka.jar', 'org.example.Main'].join('\0'));
    entry('self', ['java', 'kafka.Kafka', '/x.properties'].join('\0'));
    mkdirSync(join(proc, '12')); // no cmdline: a process that ended while listed
    assert.deepEqual(runningBrokers(proc), [
      { pid: 7, config: '/etc/kafka/server.properties' },
      { pid: 41, config: '(no properties file)' },
    ]);
    assert.deepEqual(runningBrokers(join(proc, 'absent')), []);
  } finally {
    rmSync(proc, { recursive: true, force: true });
  }
});
