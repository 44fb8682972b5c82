// The operator commands as an operator runs them: `node dist/services/cli/main.js ...`
// as a child process, against the real API (startRuntime: api + sink, embedded
// ClickHouse, in-process bus) in this process. Checks each command's happy
// path, its --json output and the documented exit codes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { securityEventCodec } from '../../shared/avro/codec.js';
import type { SecurityEvent } from '../../shared/records.js';
import { hashToken } from '../../shared/auth/tokens.js';
import { startRuntime, type Runtime } from '../runtime.js';
import { until } from '../../shared/testing/wait.js';
import { testConfig } from '../../shared/testing/config.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const ADMIN = 'lw_cli-test-admin-token-0123456789abcdef';
const ANALYST = 'lw_cli-test-analyst-token-0123456789abcdef';
const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-cli-'));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function parseJson<T = Record<string, unknown>>(r: Run): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON document: ${r.stdout} (stderr: ${r.stderr})`);
  }
}


function event(ip: string, extra: Partial<SecurityEvent> = {}): SecurityEvent {
  const now = Date.now();
  return {
    id: randomUUID(), ts: now, type: 'scan_detected', detector: 'unique_paths', ip, deployment: 'shop', count: 42,
    window_start: now - 60_000, window_end: now, sample_paths: ['/wp-login.php'], details: {}, ...extra,
  };
}

describe('logwarden operator commands over the API', () => {
  let rt: Runtime;
  let base: string;

  before(async () => {
    const config = testConfig('cli', { dataDir, tokens: { admin: ADMIN, analyst: ANALYST }, sections: { ingest: { udp: { enabled: false } }, api: { auth_failures_per_minute: 1000 } } });
    rt = await startRuntime(config, new Set(['api', 'sink']));
    base = `http://127.0.0.1:${rt.apiPort}`;
  });
  after(async () => {
    await rt.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Runs the CLI; the API runs in this process, so the child must be awaited, never run synchronously. */
  const start = (args: string[], opts: { token?: string | null; env?: Record<string, string>; stdin?: string } = {}) => {
    const token = opts.token === undefined ? ADMIN : opts.token;
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { PATH: process.env.PATH ?? '', LOGWARDEN_API_URL: base, ...(token === null ? {} : { LOGWARDEN_TOKEN: token }), ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdin.end(opts.stdin ?? '');
    const done = new Promise<Run>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    return { child, done, output: () => stdout };
  };
  const cli = (args: string[], opts: Parameters<typeof start>[1] = {}) => start(args, opts).done;
  const expectExit = async (args: string[], code: number, opts: Parameters<typeof start>[1] = {}): Promise<Run> => {
    const r = await cli(args, opts);
    assert.equal(r.code, code, `logwarden ${args.join(' ')} exited ${r.code}, not ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };

  test('token is local: prints a token once, and the api.tokens entry holding its hash', async () => {
    const r = await expectExit(['token', '--name', 'soc2', '--role', 'analyst', '--json'], 0, { token: null, env: { LOGWARDEN_API_URL: 'http://127.0.0.1:9' } });
    const t = parseJson<{ name: string; role: string; token: string; hash: string }>(r);
    assert.equal(t.role, 'analyst');
    assert.equal(t.hash, hashToken(t.token));
    const human = await expectExit(['token', '--name', 'ci', '--role', 'admin'], 0, { token: null });
    const printed = /\n {2}(lw_\S+)\n/.exec(human.stdout)?.[1];
    assert.ok(printed, human.stdout);
    assert.ok(human.stdout.includes(`{ name: ci, role: admin, hash: "${hashToken(printed)}" }`), human.stdout);
    await expectExit(['token', '--name', 'ci'], 2, { token: null });
    await expectExit(['token', '--name', 'ci', '--role', 'root'], 2, { token: null });
  });

  test('usage errors exit 2, before any call', async () => {
    await expectExit(['whitelist', 'frob'], 2);
    await expectExit(['block'], 2);
    await expectExit(['block', '192.0.2.1', '--duration', '5 parsecs'], 2);
    await expectExit(['cleanup', '--older-than', '7x'], 2);
    await expectExit(['blocks', '--older-than', '7d'], 2);
    await expectExit(['capture', 'maybe'], 2);
    await expectExit(['blocks', '--api', 'ftp://127.0.0.1/'], 2);
    const r = await expectExit(['blocks', '--token', ADMIN], 2);
    assert.match(r.stderr, /no --token option/);
    assert.ok(!r.stderr.includes(ADMIN) && !r.stdout.includes(ADMIN), 'the token is not echoed');
  });

  test('authentication and authorization: no token, a wrong token, the analyst role changing things → 3', async () => {
    const none = await expectExit(['blocks'], 3, { token: null });
    assert.match(none.stderr, /LOGWARDEN_TOKEN/);
    const wrong = await expectExit(['blocks'], 3, { token: 'lw_not-a-real-token-000000000000' });
    assert.match(wrong.stderr, /401/);
    const forbidden = await expectExit(['block', '192.0.2.50'], 3, { token: ANALYST });
    assert.match(forbidden.stderr, /403/);
    await expectExit(['blocks'], 0, { token: ANALYST });
    const file = join(dataDir, 'analyst.token');
    writeFileSync(file, `${ANALYST}\n`, { mode: 0o600 });
    await expectExit(['blocks', '--token-file', file], 0, { token: null });
    await expectExit(['blocks', '--token-file', join(dataDir, 'missing.token')], 2, { token: null });
  });

  test('an unreachable API → 1', async () => {
    const srv = createServer();
    const port = await new Promise<number>((resolve) => srv.listen(0, '127.0.0.1', () => resolve((srv.address() as { port: number }).port)));
    await new Promise((resolve) => srv.close(resolve));
    const r = await expectExit(['blocks', '--api', `http://127.0.0.1:${port}`], 1);
    assert.match(r.stderr, /cannot reach the API/);
  });

  test('block, blocks, unblock: durations in config units, filters, CIDRs, 404 and 400', async () => {
    const r = await expectExit(['block', '192.168.1.100', '--duration', '24h', '--reason', 'Suspicious activity', '--json'], 0);
    const b = parseJson<{ data: { ip: string; reason: string; created_at: number; expires_at: number; source: string } }>(r).data;
    assert.equal(b.ip, '192.168.1.100');
    assert.equal(b.reason, 'Suspicious activity');
    assert.equal(b.expires_at - b.created_at, 86_400_000);
    const human = await expectExit(['block', '198.51.100.0/24', '--permanent', '--deployment', 'shop'], 0);
    assert.match(human.stdout, /blocked 198\.51\.100\.0\/24 \(shop\) permanently/);

    const list = parseJson<{ data: Array<{ ip: string; expires_at: number | null }>; total: number }>(await expectExit(['blocks', '--json'], 0, { token: ANALYST }));
    assert.ok(list.data.some((x) => x.ip === '192.168.1.100'));
    assert.equal(list.data.find((x) => x.ip === '198.51.100.0/24')?.expires_at, null);
    const filtered = parseJson<{ data: Array<{ ip: string }> }>(await expectExit(['blocks', '--source', 'manual', '--ip', '192.168.0.0/16', '--limit', '10', '--json'], 0));
    assert.deepEqual(filtered.data.map((x) => x.ip), ['192.168.1.100']);
    const table = await expectExit(['blocks'], 0);
    assert.match(table.stdout, /^IP +SOURCE +DEPLOYMENT +EXPIRES/);
    assert.match(table.stdout, /198\.51\.100\.0\/24 +manual +shop +permanent/);

    await expectExit(['unblock', '192.168.1.100'], 0);
    await expectExit(['unblock', '198.51.100.0/24'], 0);
    const again = await expectExit(['unblock', '192.168.1.100'], 4);
    assert.match(again.stderr, /not blocked/);
    const bad = await expectExit(['block', 'not-an-ip'], 5);
    assert.match(bad.stderr, /field ip/);
    await expectExit(['blocks', '--limit', '0'], 5);
    // The caller's own address is refused unless forced (409 → 5).
    const self = await expectExit(['block', '127.0.0.0/8', '--duration', '1m'], 5);
    assert.match(self.stderr, /LW_API_SELF_BLOCK/);
  });

  test('whitelist add (type given or inferred), ls, rm by value and by id; a whitelisted address is not blocked unless forced', async () => {
    const ip = parseJson<{ data: { id: string; type: string } }>(await expectExit(['whitelist', 'add', '10.1.2.3', '--description', 'office', '--json'], 0)).data;
    assert.equal(ip.type, 'ip');
    const cidr = await expectExit(['whitelist', 'add', '10.50.0.0/16'], 0);
    assert.match(cidr.stdout, /whitelisted cidr 10\.50\.0\.0\/16/);
    await expectExit(['whitelist', 'add', '/healthz'], 0);
    await expectExit(['whitelist', 'add', 'cidr', '10.60.0.0/16', '--deployment', 'shop'], 0);
    // As FlatRun's documentation writes it: an `ip` entry naming a range is stored as the range.
    assert.match((await expectExit(['whitelist', 'add', 'ip', '10.70.0.0/16'], 0)).stdout, /whitelisted cidr 10\.70\.0\.0\/16/);
    await expectExit(['whitelist', 'rm', '10.70.0.0/16'], 0);
    await expectExit(['whitelist', 'add', 'ip', '10.70.0.300'], 5);

    const ls = parseJson<{ data: Array<{ id: string; type: string; value: string }> }>(await expectExit(['whitelist', 'ls', '--json'], 0, { token: ANALYST }));
    const byValue = new Map(ls.data.map((w) => [w.value, w.type]));
    assert.equal(byValue.get('10.1.2.3'), 'ip');
    assert.equal(byValue.get('10.50.0.0/16'), 'cidr');
    assert.equal(byValue.get('/healthz'), 'path');
    assert.equal(byValue.get('10.60.0.0/16'), 'cidr');
    const paths = parseJson<{ data: Array<{ value: string }> }>(await expectExit(['whitelist', 'ls', '--type', 'path', '--json'], 0));
    assert.deepEqual(paths.data.map((w) => w.value), ['/healthz']);

    const refused = await expectExit(['block', '10.1.2.3'], 5);
    assert.match(refused.stderr, /whitelisted/);
    await expectExit(['block', '10.1.2.3', '--force', '--duration', '1m'], 0);
    await expectExit(['unblock', '10.1.2.3'], 0);

    await expectExit(['whitelist', 'rm', '10.1.2.3'], 0);
    const cidrId = ls.data.find((w) => w.value === '10.50.0.0/16')?.id as string;
    await expectExit(['whitelist', 'rm', cidrId], 0);
    await expectExit(['whitelist', 'rm', '10.1.2.3'], 4);
    await expectExit(['whitelist', 'rm', '/healthz'], 3, { token: ANALYST });
    const left = parseJson<{ data: Array<{ value: string }> }>(await expectExit(['whitelist', 'ls', '--json'], 0)).data.map((w) => w.value).sort();
    assert.deepEqual(left, ['/healthz', '10.60.0.0/16']);
  });

  test('routes add takes the credential from a file, stdin or a variable, never from argv; ls never shows it; rm', async () => {
    const file = join(dataDir, 'admin.cred');
    writeFileSync(file, 'admin:s3cret-file\n', { mode: 0o600 });
    const a = parseJson<{ data: Record<string, unknown> }>(await expectExit(['routes', 'add', '/admin', '--auth', 'basic', '--credentials-file', file, '--deployment', 'shop', '--json'], 0));
    assert.equal(a.data.path, '/admin');
    assert.equal(a.data.method, 'ALL');
    await expectExit(['routes', 'add', '/metrics', '--auth', 'bearer', '--credentials-file', '-', '--method', 'get'], 0, { stdin: 's3cret-stdin-token\n' });
    await expectExit(['routes', 'add', '/ops', '--auth', 'basic', '--credentials-env', 'OPS_CRED'], 0, { env: { OPS_CRED: 'ops:s3cret-env' } });

    await expectExit(['routes', 'add', '/x', '--auth', 'basic'], 2);
    await expectExit(['routes', 'add', '/x', '--auth', 'basic', '--credentials-env', 'UNSET_VAR'], 2);
    await expectExit(['routes', 'add', '/x', '--auth', 'basic', '--credentials-file', file, '--credentials-env', 'OPS_CRED'], 2, { env: { OPS_CRED: 'a:b' } });
    await expectExit(['routes', 'add', '/x', '--auth', 'digest', '--credentials-file', file], 5);
    await expectExit(['routes', 'add', '/x', '--auth', 'bearer', '--credentials-file', '-'], 5, { stdin: 'short' });

    const ls = await expectExit(['routes', 'ls', '--json'], 0, { token: ANALYST });
    assert.ok(!/s3cret|credential/.test(ls.stdout), `no credential in ${ls.stdout}`);
    const routes = parseJson<{ data: Array<{ id: string; path: string; method: string; auth_type: string }> }>(ls).data;
    assert.deepEqual(routes.map((r) => `${r.path} ${r.method} ${r.auth_type}`), ['/admin ALL basic', '/metrics GET bearer', '/ops ALL basic']);
    const human = await expectExit(['routes', 'ls'], 0);
    assert.match(human.stdout, /\/metrics +GET +bearer/);

    await expectExit(['routes', 'rm', '/admin'], 0);
    await expectExit(['routes', 'rm', routes.find((r) => r.path === '/ops')?.id as string], 0);
    await expectExit(['routes', 'rm', '/admin'], 4);
    const left = parseJson<{ data: Array<{ path: string }> }>(await expectExit(['routes', 'ls', '--json'], 0)).data.map((r) => r.path);
    assert.deepEqual(left, ['/metrics']);
  });

  test('events: filters, --since as a duration, a table that shows no control characters', async () => {
    const ip = '203.0.113.77';
    await rt.bus.publish(rt.topics.events, [{ key: ip, value: securityEventCodec.encode(event(ip, { sample_paths: ['/\u001b[2Jpwned'] })) }]);
    const found = await until('the event stored and listed', async () => {
      const r = await cli(['events', '--ip', ip, '--since', '1h', '--json'], { token: ANALYST });
      assert.equal(r.code, 0, r.stderr);
      const data = parseJson<{ data: Array<{ ip: string; type: string }> }>(r).data;
      return data.length > 0 ? data : undefined;
    });
    assert.equal(found[0]?.type, 'scan_detected');
    const human = await expectExit(['events', '--ip', '203.0.113.0/24', '--type', 'scan_detected', '--limit', '5'], 0);
    assert.match(human.stdout, /scan_detected +203\.0\.113\.77 +shop +42 +unique_paths/);
    assert.ok(!human.stdout.includes('\u001b'), 'an escape sequence from traffic does not reach the terminal');
    const none = parseJson<{ data: unknown[] }>(await expectExit(['events', '--ip', ip, '--type', 'auth_failed', '--json'], 0));
    assert.deepEqual(none.data, []);
    await expectExit(['events', '--type', 'no_such_type'], 5);
    await expectExit(['events', '--follow', '--limit', '5'], 2);
  });

  test('events --follow prints an event published after it started, until it is stopped', async () => {
    const ip = '203.0.113.88';
    const follow = start(['events', '--follow', '--ip', ip, '--json'], { token: ANALYST });
    let seen: SecurityEvent | undefined;
    try {
      // The stream shows what happens from now on: publish until the follower, once subscribed, shows one.
      seen = await until('the followed event', async () => {
        await rt.bus.publish(rt.topics.events, [{ key: ip, value: securityEventCodec.encode(event(ip)) }]);
        await sleep(300);
        const line = follow.output().split('\n').find((l) => l.includes(ip));
        return line === undefined ? undefined : (JSON.parse(line) as SecurityEvent);
      });
    } finally {
      follow.child.kill('SIGTERM');
    }
    const r = await follow.done;
    assert.equal(seen.ip, ip);
    assert.equal(seen.type, 'scan_detected');
    assert.equal(r.code, 0, `stopped by a signal, it exits 0: ${r.stderr}`);
  });

  test('stats, capture on|off, refresh, cleanup --older-than 7d', async () => {
    const stats = parseJson<{ data: { total_events: number; blocked_ips: number; events_by_type: Record<string, number> } }>(await expectExit(['stats', '--json'], 0, { token: ANALYST }));
    assert.equal(typeof stats.data.total_events, 'number');
    assert.equal(typeof stats.data.events_by_type.scan_detected, 'number');
    assert.match((await expectExit(['stats'], 0)).stdout, /blocked IPs: \d+/);

    assert.match((await expectExit(['capture', 'on'], 0)).stdout, /real-time capture on/);
    assert.equal(parseJson<{ data: { enabled: boolean } }>(await expectExit(['capture', '--json'], 0, { token: ANALYST })).data.enabled, true);
    await expectExit(['capture', 'off'], 3, { token: ANALYST });
    assert.match((await expectExit(['capture', 'off'], 0)).stdout, /real-time capture off/);
    assert.equal(rt.state.capture, false);

    const refresh = parseJson<{ data: { refreshed: boolean } }>(await expectExit(['refresh', '--json'], 0));
    assert.equal(refresh.data.refreshed, true);
    const week = 7 * 86_400_000;
    const t0 = Date.now();
    const cleanup = parseJson<{ data: { cutoff: number } }>(await expectExit(['cleanup', '--older-than', '7d', '--json'], 0));
    const t1 = Date.now();
    assert.ok(cleanup.data.cutoff >= t0 - week - 1000 && cleanup.data.cutoff <= t1 - week + 1000, `cutoff ${cleanup.data.cutoff} is 7 days before the call`);
    assert.match((await expectExit(['cleanup'], 0)).stdout, /removed/);
  });
});
