// A lifted block never blinds detection: the detectors learn every decision
// from the decisions topic, an operator's unblock included. Through the wiring
// `logwarden all` runs (syslog over UDP → ingester → bus → detector → decisions;
// the API lifting the block; embedded ClickHouse behind the API), on the
// in-process bus and on the real Kafka broker.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { blockDecisionCodec } from '../../shared/avro/codec.js';
import type { Config } from '../../shared/config/load.js';
import { testConfig } from '../../shared/testing/config.js';
import type { BlockDecision } from '../../shared/records.js';
import { probe } from '../../shared/testing/bus-probe.js';
import { kafkaBrokers, unitOnly } from '../../shared/testing/kafka.js';
import { startRuntime, type Runtime } from '../runtime.js';

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-reblock-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));
const ADMIN = 'lw_test-admin-token-reblock-0123456789';
const SCANNER = '198.51.100.77';

function config(brokers: string[]): Config {
  return testConfig('reblock', { dataDir, brokers, tokens: { admin: ADMIN }, sections: { ingest: { udp: { port: 0 }, tcp: { enabled: false } } } });
}

/** A scanner's 404s as nginx sends them (RFC 3164 over UDP, the shipped JSON format), at the wall clock. */
async function scan(port: number, from: number, n: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  for (let i = from; i < from + n; i++) {
    const ts = (Date.now() / 1000).toFixed(3);
    const line = `<190>Dec  6 10:00:00 edge-1 nginx: {"ts":"${ts}","client_ip":"${SCANNER}","method":"GET","host":"shop.example","uri":"/probe-${i}.php","status":"404","bytes":"0","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0"}`;
    await new Promise<void>((resolve, reject) => socket.send(line, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  }
  socket.close();
}

async function until<T>(what: string, fn: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

for (const kind of ['memory', 'kafka'] as const) {
  describe(`a lifted block never blinds detection (${kind} bus)`, { skip: kind === 'kafka' && unitOnly() && 'unit-only run' }, () => {
    let rt: Runtime | undefined;
    after(async () => rt?.stop());

    test('blocked, unblocked through the API, offending again: blocked again', { timeout: 120_000 }, async () => {
      rt = await startRuntime(config(kind === 'kafka' ? kafkaBrokers() : []), new Set(['ingester', 'detector', 'sink', 'api'] as const));
      const sub = await probe(rt.bus, rt.topics.decisions, (m) => blockDecisionCodec.decode(m.value));
      const decisions = sub.items;
      try {
        const blocks = (): BlockDecision[] => decisions.filter((d) => d.ip === SCANNER && d.action === 'block' && d.source === 'auto');
        await scan(rt.udpPort as number, 0, 60);
        await until('the first block', () => (blocks().length >= 1 ? true : undefined));

        const url = `http://127.0.0.1:${rt.apiPort}/api/security/blocked-ips/${SCANNER}`;
        const headers = { authorization: `Bearer ${ADMIN}` };
        // The sink stores the block in control_blocks, which the API lists and lifts.
        const listed = async (): Promise<boolean> => (await fetch(url, { headers })).status === 200;
        for (let i = 0; !(await listed()); i++) {
          assert.ok(i < 300, 'the block is listed by the API');
          await sleep(100);
        }
        const res = await fetch(url, { method: 'DELETE', headers });
        assert.equal(res.status, 200);
        await until('the unblock on the decisions topic', () => (decisions.some((d) => d.ip === SCANNER && d.action === 'unblock' && d.source === 'manual') ? true : undefined));
        // The detectors read it too (their own group); give them a moment past the probe.
        await sleep(500);

        // A few requests are no offence: the lifted client starts afresh.
        await scan(rt.udpPort as number, 1000, 3);
        await sleep(1000);
        assert.equal(blocks().length, 1, 'three requests after the unblock are no new block');

        await scan(rt.udpPort as number, 2000, 60);
        const again = await until('the second block', () => (blocks().length >= 2 ? blocks() : undefined));
        assert.equal(again[1]?.escalation_level, 1, 'a repeat offender: the second ban is escalated');
      } finally {
        await sub.close();
      }
    });
  });
}
