// Decision published → 403 at nginx: the enforcer (in-process bus) pushes
// block decisions to the test nginx's Lua control endpoint; for each, a
// prober asks nginx as that client until it is refused. Distinct client
// addresses come from 127.0.0.1 in X-Forwarded-For, which the test nginx
// trusts from there (realip), as a node behind a proxy does.
//   node dist/loadtest/enforcement-latency.bench.js [--decisions 200] [--interval-ms 20]
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { blockDecisionCodec } from '../shared/avro/codec.js';
import { MemoryBus } from '../shared/bus/memory.js';
import { loadConfig } from '../shared/config/load.js';
import { freePort, startTestNginx } from '../shared/testing/nginx.js';
import { topicNames } from '../shared/topics.js';
import { Enforcer } from '../services/enforcer/enforcer.js';
import { figure } from './report-figures.js';

const { values } = parseArgs({ options: { decisions: { type: 'string', default: '200' }, 'interval-ms': { type: 'string', default: '20' } } });
const n = Math.min(Number(values.decisions), 2000);
const interval = Number(values['interval-ms']);
const CLIENT_HEADER = 'x-forwarded-for';

const secret = 'bench-control-secret-0123456789';
const nginx = await startTestNginx({ controlPort: await freePort(), controlSecret: secret });
const bus = new MemoryBus();
const topics = topicNames('enfbench.');
await bus.ensureTopics([{ topic: topics.decisions, partitions: 4, compacted: true }]);
const enforcer = new Enforcer({
  config: loadConfig({ text: 'log_level: silent', env: {} }),
  bus,
  topics,
  nodes: [{ name: 'edge', url: nginx.controlUrl as string, secret, secret_env: '', secret_file: '' }],
  reconcileMs: 30_000,
});
await enforcer.start();
await sleep(500);

async function refused(ip: string): Promise<boolean> {
  const res = await fetch(`${nginx.url}/`, { headers: { [CLIENT_HEADER]: ip } });
  await res.arrayBuffer();
  return res.status === 403;
}

const latencies: number[] = [];
const probes: Promise<void>[] = [];
for (let i = 0; i < n; i++) {
  const ip = `198.18.${(i >> 8) & 255}.${i & 255}`;
  const t0 = performance.now();
  await bus.publish(topics.decisions, [
    {
      key: ip,
      value: blockDecisionCodec.encode({ ip, action: 'block', reason: 'bench', source: 'manual', created_at: Date.now(), expires_at: Date.now() + 600_000, deployment: null, escalation_level: 0 }),
    },
  ]);
  probes.push(
    (async () => {
      const deadline = t0 + 10_000;
      while (performance.now() < deadline) {
        if (await refused(ip)) {
          latencies.push(performance.now() - t0);
          return;
        }
        await sleep(1);
      }
    })(),
  );
  await sleep(interval);
}
await Promise.all(probes);
await enforcer.close();
await bus.close();
await nginx.stop();

latencies.sort((a, b) => a - b);
const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
console.log(`decision published → 403 at nginx (enforcer → signed control request → Lua shared dict), ${n} decisions, one every ${interval} ms`);
console.log(`  refused      ${latencies.length} of ${n}`);
console.log(`  latency      p50 ${q(0.5).toFixed(1)} ms   p99 ${q(0.99).toFixed(1)} ms   max ${(latencies[latencies.length - 1] ?? NaN).toFixed(1)} ms   (aim p99 < 100 ms)`);
console.log('  peer         CrowdSec\'s OpenResty bouncer polls its decisions every 10 s by default (stream mode update_frequency): up to 10 000 ms');
const bouncer = { name: "CrowdSec bouncer's 10 s poll (documented worst case)", value: 10_000 };
figure({ bench: 'enforcement-latency', name: 'decision → 403 at nginx p50', value: q(0.5), unit: 'ms', peer: bouncer, better: 'lower' });
figure({ bench: 'enforcement-latency', name: 'decision → 403 at nginx p99', value: q(0.99), unit: 'ms', peer: bouncer, better: 'lower', aim: 100 });
figure({ bench: 'enforcement-latency', name: 'decisions enforced', value: n > 0 ? latencies.length / n : NaN, unit: 'share', better: 'higher', aim: 1 });
