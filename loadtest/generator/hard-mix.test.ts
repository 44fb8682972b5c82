// The harder mix's promises, checked on its output: each benign kind does
// what its label says (at and above the thresholds where the kind lives
// there), each paced attacker keeps its pace, crawlers' DNS records are the
// ones the evaluation must serve, and every line belongs to a labelled client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inRanges, networkOfIp, parseRange } from '../../shared/ip.js';
import { HARD_PROFILES, PACED_ATTACK_KINDS, TrafficGenerator, type GeneratedRequest } from './traffic.js';
import { LineFormatter } from './format.js';
import { pathOf } from './window.js';
import { addBlock, blockedAt, score } from '../detection-eval-score.js';

const START = Date.UTC(2026, 10, 21, 6, 0, 0);
const gen = new TrafficGenerator({ seed: 5, lines: 60_000, startMs: START, durationMs: 60 * 60_000, mix: 'hard' });
const events: GeneratedRequest[] = [...gen];
const truth = gen.truth();
const dns = gen.dnsRecords();
const byIp = new Map<string, GeneratedRequest[]>();
for (const r of events) {
  // A relayed request belongs to the visitor its X-Forwarded-For names; a rotator's to its first address.
  const key = truth.clients[r.client_ip]?.profile === 'cdn_proxy' ? r.xff : (truth.aliases[r.client_ip] ?? r.client_ip);
  const list = byIp.get(key) ?? [];
  list.push(r);
  byIp.set(key, list);
}
const of = (cat: string): Array<[string, GeneratedRequest[]]> =>
  Object.entries(truth.clients).filter(([, c]) => (c.kind ?? c.profile) === cat).map(([ip]) => [ip, byIp.get(ip) ?? []]);
const maxInWindow = (ts: number[], windowMs: number): number => {
  let best = 0;
  for (let i = 0, j = 0; i < ts.length; i++) {
    while ((ts[i] as number) - (ts[j] as number) > windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
};

test('every benign kind and every paced attacker kind is present, and every line belongs to a labelled client', () => {
  for (const p of [...HARD_PROFILES, 'cdn_client']) assert.ok(of(p).length > 0, `${p} present`);
  for (const k of PACED_ATTACK_KINDS) assert.ok(of(k).length >= 2, `${k} present`);
  let counted = 0;
  for (const [ip, c] of Object.entries(truth.clients)) if (c.profile !== 'cdn_proxy') counted += (byIp.get(ip) ?? []).length;
  assert.equal(counted, events.length, 'every line is a labelled client\'s');
  assert.equal(truth.mix, 'hard');
  assert.deepEqual(truth.trusted_proxies, ['104.16.248.0/24']);
});

test('verified crawlers: forward-confirmed names in the owner\'s domain; fake crawlers: none, at most a forged PTR', () => {
  const host = new Map(dns.host.map(([name, ip]) => [ip, name]));
  for (const [ip, reqs] of of('verified_crawler')) {
    const name = host.get(ip) as string;
    assert.match(name, /\.(googlebot\.com|search\.msn\.com|applebot\.apple\.com)$/);
    assert.equal(truth.clients[ip]?.dns_name, name);
    assert.match(reqs[0]?.user_agent ?? '', /Googlebot|bingbot|Applebot/);
    const pages = reqs.map((r) => r.ts);
    assert.ok(maxInWindow(pages, 60_000) >= 15 && maxInWindow(pages, 60_000) <= 80, `${ip}: 15-40 pages a minute`);
    assert.ok((pages.at(-1) as number) - (pages[0] as number) > 20 * 60_000, `${ip}: crawls for a long time`);
  }
  for (const [ip, reqs] of of('fake_crawler')) {
    assert.equal(host.has(ip), false, `${ip}: no forward-confirmed name`);
    assert.match(reqs[0]?.user_agent ?? '', /Googlebot|bingbot/);
  }
  for (const [ip, name] of dns.ptr) assert.equal(truth.clients[ip]?.kind, 'fake_crawler', `forged PTR ${name} is a fake crawler's`);
});

test('the NAT office: one address, 30-50 browsers, assets, 304 revalidations', () => {
  for (const [ip, reqs] of of('office_nat')) {
    const uas = new Set(reqs.map((r) => r.user_agent));
    assert.ok(uas.size >= 10 && uas.size <= 50, `${ip}: ${uas.size} user agents`);
    assert.ok(reqs.some((r) => r.status === 304), 'revalidations');
    assert.ok(reqs.length > 300, `${ip}: ${reqs.length} requests`);
  }
});

test('mistyped passwords: 3-5 failures, then a success', () => {
  for (const [ip, reqs] of of('password_typo')) {
    const posts = reqs.filter((r) => r.method === 'POST');
    const fails = posts.filter((r) => r.status === 401 || r.status === 403).length;
    assert.ok(fails >= 3 && fails <= 5, `${ip}: ${fails} failures`);
    assert.equal(posts.at(-1)?.status, 302, `${ip}: ends logged in`);
  }
});

test('single-page apps: many distinct API paths in a window, every one answered 200; health checks: one path every 5-10 s', () => {
  for (const [ip, reqs] of of('spa')) {
    const api = reqs.filter((r) => r.uri.startsWith('/api/'));
    assert.ok(api.every((r) => r.status === 200), `${ip}: all 200`);
    assert.ok(new Set(api.map((r) => pathOf(r.uri))).size > 20, `${ip}: many distinct paths`);
  }
  for (const [ip, reqs] of of('health_check')) {
    assert.equal(new Set(reqs.map((r) => r.uri)).size, 1, `${ip}: one path`);
    for (let i = 1; i < reqs.length; i++) {
      const gap = (reqs[i]?.ts as number) - (reqs[i - 1]?.ts as number);
      assert.ok(gap >= 4_700 && gap <= 10_300, `${ip}: gap ${gap} ms`);
    }
  }
});

test('the CDN: its node in the trusted range relays labelled visitors in X-Forwarded-For; combined logs the visitor, as realip would', () => {
  const trusted = truth.trusted_proxies.map((r) => parseRange(r));
  const combined = new LineFormatter('combined');
  for (const [cdn] of of('cdn_proxy')) {
    assert.ok(inRanges(cdn, trusted), `${cdn} in the trusted range`);
    const relayed = events.filter((r) => r.client_ip === cdn);
    assert.ok(relayed.length > 100);
    for (const r of relayed.slice(0, 200)) {
      assert.equal(truth.clients[r.xff]?.via, cdn);
      assert.ok(combined.line(r).startsWith(`${r.xff} - `));
    }
  }
});

test('paced attackers keep their pace: slow brute force ~1 failure / 10 s for 10+ min; slow scanner a few probes a minute; bursts minutes apart; a /64 rotation', () => {
  for (const [ip, reqs] of of('slow_brute_force')) {
    const ts = reqs.map((r) => r.ts);
    assert.ok((ts.at(-1) as number) - (ts[0] as number) >= 10 * 60_000, `${ip}: 10+ min`);
    assert.ok(maxInWindow(ts, 60_000) <= 9, `${ip}: about 6 a minute`);
  }
  for (const [ip, reqs] of of('slow_scanner')) assert.ok(maxInWindow(reqs.map((r) => r.ts), 60_000) <= 9, `${ip}: a few a minute`);
  for (const [ip, reqs] of of('bursty_scanner')) {
    let pauses = 0;
    for (let i = 1; i < reqs.length; i++) if ((reqs[i]?.ts as number) - (reqs[i - 1]?.ts as number) >= 3 * 60_000) pauses++;
    assert.ok(pauses >= 4, `${ip}: ${pauses} pauses of 3+ minutes`);
  }
  for (const [ip, reqs] of of('ipv6_rotating')) {
    const addrs = new Set(reqs.map((r) => r.client_ip));
    assert.ok(addrs.size >= 10, `${ip}: ${addrs.size} addresses`);
    assert.equal(new Set([...addrs].map((a) => networkOfIp(a, 32, 64))).size, 1, 'one /64');
    assert.deepEqual(new Set(truth.clients[ip]?.addresses), addrs);
  }
});

test('scoring: a /64 block covers an IPv6 client; a rotator needs its /64 or every address; strangers are named', () => {
  const [rot] = of('ipv6_rotating')[0] as [string, GeneratedRequest[]];
  const c = truth.clients[rot];
  assert.ok(c);
  const perAddress = new Map<string, number>();
  for (const a of (c.addresses ?? []).slice(1)) addBlock(perAddress, a, 5);
  assert.equal(blockedAt(rot, c, perAddress), undefined, 'one address left unbanned');
  addBlock(perAddress, rot, 9);
  assert.equal(blockedAt(rot, c, perAddress), 9, 'every address banned: at the last ban');
  const range = new Map([[networkOfIp(rot, 32, 64), 7], ['192.0.2.1', 1]]);
  assert.equal(blockedAt(rot, c, range), 7);
  const s = score(truth, range, []);
  assert.deepEqual(s.strangers, ['192.0.2.1']);
  const cat = s.categories.find((k) => k.category === 'ipv6_rotating');
  assert.equal(cat?.blocked, 1);
  assert.equal(cat?.delays[0], Math.max(0, (7 - (c.first_attack_ts as number)) / 1000));
});
