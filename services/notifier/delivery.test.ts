// Delivery to a real HTTP receiver on loopback: signature, retries, sent once,
// aggregation, rate limit, queue bound, Slack-compatible body. The targets come
// from the real config loader (secrets from the environment, as operators set them).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { loadConfig } from '../../shared/config/load.js';
import type { NotificationTarget } from '../../shared/config/types.js';
import type { BlockDecision, SecurityEvent } from '../../shared/records.js';
import { until } from '../../shared/testing/wait.js';
import { Notifier } from './notifier.js';
import { decisionItem, eventItem } from './payload.js';
import { DELIVERY_HEADER, SIGNATURE_HEADER, verifySignature } from './signature.js';
import { startReceiver, type Receiver } from './testing/receiver.js';

const SECRET = 'notify-test-signing-secret-0123456789';

function target(url: string, over: Record<string, unknown> = {}): NotificationTarget {
  const doc = { notifications: { targets: [{ name: 'soc', url, secret_env: 'HOOK_SECRET', kinds: ['block', 'unblock', 'event'], aggregate_window: '0s', retry_initial: '20ms', retry_max: '200ms', ...over }] } };
  return loadConfig({ text: JSON.stringify(doc), env: { HOOK_SECRET: SECRET } }).notifications.targets[0] as NotificationTarget;
}

let seq = 0;
function decision(over: Partial<BlockDecision> = {}): BlockDecision {
  seq++;
  return { ip: `198.51.100.${seq}`, action: 'block', reason: 'test', source: 'manual', created_at: 1_780_000_000_000 + seq, expires_at: 1_790_000_000_000, deployment: null, escalation_level: 0, ...over };
}

interface Body { id: string; count: number; items: Array<{ id: string; kind: string; ip: string }> }
const body = (r: { body: string }): Body => JSON.parse(r.body) as Body;
const itemIds = (rx: Receiver): string[] => rx.accepted().flatMap((r) => body(r).items.map((i) => i.id));

/** The README's verification snippet, verbatim. */
function verifyLikeReadme(secret: string, header: string, rawBody: string, toleranceSeconds = 300): boolean {
  const { t, v1 } = Object.fromEntries(header.split(',').map((kv) => kv.split('='))) as { t?: string; v1?: string };
  if (!t || !v1 || Math.abs(Date.now() / 1000 - Number(t)) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  const given = Buffer.from(v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('notifier delivery to a loopback receiver', () => {
  const receivers: Receiver[] = [];
  const notifiers: Notifier[] = [];
  const setup = async (over: Record<string, unknown> = {}): Promise<{ rx: Receiver; n: Notifier }> => {
    const rx = await startReceiver();
    const n = new Notifier([target(rx.url, over)]);
    receivers.push(rx);
    notifiers.push(n);
    return { rx, n };
  };
  const stats = (n: Notifier) => {
    const s = n.stats().soc;
    assert.ok(s);
    return s;
  };
  after(async () => {
    for (const n of notifiers) await n.close(0);
    for (const rx of receivers) await rx.close();
  });

  test('the signature verifies with the secret, the README snippet agrees, and a tampered body fails', async () => {
    const { rx, n } = await setup();
    const d = decision();
    n.offer(decisionItem(d));
    const got = await until('one message', () => rx.accepted()[0]);
    const header = String(got.headers[SIGNATURE_HEADER]);
    assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
    const now = Math.floor(Date.now() / 1000);
    assert.equal(verifySignature(SECRET, header, got.body, now), true);
    assert.equal(verifyLikeReadme(SECRET, header, got.body), true);
    assert.equal(verifySignature(SECRET, header, got.body.replace(d.ip, '192.0.2.1'), now), false, 'a changed body fails');
    assert.equal(verifySignature('another-secret-of-enough-length', header, got.body, now), false, 'another secret fails');
    assert.equal(verifySignature(SECRET, header, got.body, now + 3600), false, 'an old signature fails');
    const b = body(got);
    assert.equal(got.headers[DELIVERY_HEADER], b.id);
    assert.deepEqual(b.items.map((i) => [i.kind, i.ip]), [['block', d.ip]]);
    assert.match(b.items[0]?.id ?? '', /^decision:[0-9a-f]{32}$/);
  });

  test('a 500 is retried with the same message id, and the decision is delivered once', async () => {
    const { rx, n } = await setup({ retries: 3 });
    rx.answer = (_req, i) => (i === 0 ? 500 : 200);
    n.offer(decisionItem(decision()));
    await until('delivered after a retry', () => (stats(n).delivered === 1 ? true : undefined));
    assert.deepEqual(rx.received.map((r) => r.status), [500, 200]);
    assert.equal(rx.received[0]?.headers[DELIVERY_HEADER], rx.received[1]?.headers[DELIVERY_HEADER], 'a retry is the same message');
    assert.equal(rx.received[0]?.body, rx.received[1]?.body);
    assert.equal(stats(n).retries, 1);
    assert.equal(stats(n).failedAttempts, 1);
  });

  test('retries exhausted: the items are dropped as failed and counted; a 4xx is not retried', async () => {
    const { rx, n } = await setup({ retries: 2 });
    rx.answer = () => 503;
    n.offer(decisionItem(decision()));
    await until('given up', () => (stats(n).dropped.failed === 1 ? true : undefined));
    assert.equal(rx.received.length, 3, 'the first attempt and two retries');
    rx.answer = () => 401;
    n.offer(decisionItem(decision()));
    await until('refused', () => (stats(n).dropped.failed === 2 ? true : undefined));
    assert.equal(rx.received.length, 4, 'a refusal is not retried');
  });

  test('one decision is sent once, however often it is seen', async () => {
    const { rx, n } = await setup({ aggregate_window: '0s', max_items: 1 });
    const d = decision();
    n.offer(decisionItem(d));
    n.offer(decisionItem({ ...d }));
    await until('first delivered', () => (stats(n).delivered === 1 ? true : undefined));
    n.offer(decisionItem({ ...d }));
    const other = decision();
    n.offer(decisionItem(other));
    await until('second delivered', () => (stats(n).delivered === 2 ? true : undefined));
    assert.deepEqual(itemIds(rx), [decisionItem(d).id, decisionItem(other).id]);
    assert.equal(rx.received.length, 2);
  });

  test('items arriving within the window become one message; max_items splits', async () => {
    const { rx, n } = await setup({ aggregate_window: '1s', max_items: 4 });
    const items = Array.from({ length: 6 }, () => decisionItem(decision()));
    for (const i of items) n.offer(i);
    await until('all delivered', () => (stats(n).deliveredItems === 6 ? true : undefined));
    assert.deepEqual(rx.accepted().map((r) => body(r).count), [4, 2]);
    assert.deepEqual(itemIds(rx), items.map((i) => i.id));
  });

  test('the rate limit holds messages back, and a stop gives up what it held (counted)', async () => {
    const { rx, n } = await setup({ rate_limit: '2/1h', max_items: 1 });
    for (let i = 0; i < 4; i++) n.offer(decisionItem(decision()));
    await until('held by the rate limit', () => (stats(n).rateLimited >= 1 ? true : undefined));
    assert.equal(rx.received.length, 2, 'two messages per hour');
    await n.close(0);
    assert.equal(rx.received.length, 2);
    assert.equal(stats(n).dropped.shutdown, 2);
  });

  test('the queue is bounded: overflow is dropped and counted, offer never waits for the receiver', async () => {
    const { rx, n } = await setup({ queue_max: 3, max_items: 10 });
    let release: ((s: number) => void) | undefined;
    rx.answer = (_req, i) => (i === 0 ? new Promise<number>((r) => (release = r)) : 200);
    n.offer(decisionItem(decision()));
    await until('first message in flight', () => (stats(n).pending === 0 && release ? true : undefined));
    for (let i = 0; i < 5; i++) n.offer(decisionItem(decision()));
    assert.equal(stats(n).dropped.queue_full, 2);
    assert.equal(stats(n).pending, 3);
    release?.(200);
    await until('the rest delivered', () => (stats(n).deliveredItems === 4 ? true : undefined));
    assert.deepEqual(rx.accepted().map((r) => body(r).count), [1, 3]);
  });

  test('events are filtered by type and detector', async () => {
    const { rx, n } = await setup({ kinds: ['event'], event_types: ['scan_detected'], detectors: ['signature:*'], max_items: 1 });
    const event = (type: SecurityEvent['type'], detector: string, id: string): SecurityEvent => ({
      id, ts: Date.now(), type, detector, ip: '203.0.113.9', deployment: 'shop', count: 3, window_start: 0, window_end: 1, sample_paths: ['/.env'], details: {},
    });
    n.offer(eventItem(event('scan_detected', 'unique_paths', 'e1')));
    n.offer(eventItem(event('suspicious', 'signature:env-probe', 'e2')));
    n.offer(eventItem(event('scan_detected', 'signature:nikto', 'e3')));
    n.offer(decisionItem(decision()));
    await until('one delivered', () => (stats(n).delivered === 1 ? true : undefined));
    assert.deepEqual(itemIds(rx), ['event:e3']);
  });

  test('a Slack-compatible target gets { text, blocks }, its URL from the environment', async () => {
    const rx = await startReceiver('/services/T000/B000/XXXX');
    receivers.push(rx);
    const doc = { notifications: { targets: [{ name: 'soc', format: 'slack', url_env: 'SLACK_HOOK', kinds: ['block'], aggregate_window: '1s' }] } };
    const t = loadConfig({ text: JSON.stringify(doc), env: { SLACK_HOOK: rx.url } }).notifications.targets[0] as NotificationTarget;
    const n = new Notifier([t]);
    notifiers.push(n);
    n.offer(decisionItem(decision({ reason: '<script> & co' })));
    n.offer(decisionItem(decision()));
    const got = await until('slack message', () => rx.accepted()[0]);
    const b = JSON.parse(got.body) as { text: string; blocks: Array<{ type: string; text?: { text: string } }> };
    assert.equal(b.text, 'logwarden: 2 notifications');
    assert.deepEqual(b.blocks.map((x) => x.type), ['section', 'section', 'context']);
    assert.match(b.blocks[1]?.text?.text ?? '', /&lt;script&gt; &amp; co/);
    assert.equal(got.headers[SIGNATURE_HEADER], undefined, 'no secret, no signature');
  });

  test('every message was delivered or accounted for (figures)', async (t) => {
    for (const n of notifiers) await n.close(1000);
    const all = notifiers.map((n) => stats(n));
    const sum = (f: (s: (typeof all)[number]) => number): number => all.reduce((a, s) => a + f(s), 0);
    const received = receivers.reduce((a, rx) => a + rx.received.length, 0);
    assert.equal(sum((s) => s.delivered + s.failedAttempts), received, 'each request the receivers saw is a delivery or a counted failure');
    t.diagnostic(`delivered ${sum((s) => s.delivered)} messages (${sum((s) => s.deliveredItems)} items), ${sum((s) => s.retries)} retries, ${sum((s) => s.failedAttempts)} failed attempts, dropped: ${sum((s) => s.dropped.queue_full)} queue_full, ${sum((s) => s.dropped.failed)} failed, ${sum((s) => s.dropped.shutdown)} shutdown`);
  });
});
