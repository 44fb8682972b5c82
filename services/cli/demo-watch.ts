// What the demo shows live: the instance's event stream (one line per client
// and detector, the first time it fires) and its list of blocks, polled every
// 250 ms (one line per client blocked; in attach mode also handed to the
// demo's own enforcer). Both run until the signal aborts.
import { setTimeout as sleep } from 'node:timers/promises';
import type { SecurityEvent } from '../../shared/records.js';
import { apiCall, type Block } from './demo-instance.js';
import { KIND_LABEL } from './demo-summary.js';
import type { ClientStats } from './demo-traffic.js';
import { CliError } from './errors.js';

export interface WatchOptions {
  base: string;
  token: string;
  signal: AbortSignal;
  /** The demo's clients by address: events and blocks of other addresses are not the demo's. */
  clients: ReadonlyMap<string, ClientStats>;
  out: (line: string) => void;
  /** "  12.3s": time since the demo started, for the start of each line. */
  elapsed: () => string;
  feedEnforcer?: ((blocks: ReadonlyMap<string, Block>) => Promise<void>) | undefined;
}

export interface Watch {
  /** The blocks in force at the last poll. */
  blocks: Map<string, Block>;
  eventsByType: Record<string, number>;
  eventsByDetector: Record<string, number>;
  /** Resolves once the event stream is open (or failed once). */
  ready: Promise<void>;
  /** Resolves when both watchers stopped. */
  done: Promise<void>;
}

/** Follows the event stream until `signal` aborts; resolves `ready` once the stream is open. */
function followEvents(base: string, token: string, signal: AbortSignal, onEvent: (e: SecurityEvent) => void): { ready: Promise<void>; done: Promise<void> } {
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const done = (async () => {
    while (!signal.aborted) {
      try {
        const res = await fetch(`${base}/api/security/events/stream`, { headers: { authorization: `Bearer ${token}` }, signal });
        if (!res.ok || !res.body) throw new CliError('LW_CLI_DEMO_STREAM', `event stream: HTTP ${res.status}`);
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { done: end, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
          if (end) break;
          buf += dec.decode(value, { stream: true });
          markReady();
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
            if (data) onEvent(JSON.parse(data) as SecurityEvent);
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        markReady();
        await sleep(500);
        void err;
      }
    }
  })();
  return { ready, done };
}

export function startWatch(o: WatchOptions): Watch {
  const seenEvent = new Set<string>();
  const eventsByType: Record<string, number> = {};
  const eventsByDetector: Record<string, number> = {};
  const events = followEvents(o.base, o.token, o.signal, (e) => {
    const c = o.clients.get(e.ip);
    if (!c) return;
    eventsByType[e.type] = (eventsByType[e.type] ?? 0) + 1;
    eventsByDetector[e.detector] = (eventsByDetector[e.detector] ?? 0) + 1;
    const key = `${e.ip} ${e.detector}`;
    if (seenEvent.has(key) || e.detector === 'blocklist') return;
    seenEvent.add(key);
    o.out(`${o.elapsed()}  event    ${e.ip.padEnd(13)} ${KIND_LABEL[c.kind].padEnd(12)} ${e.type} by ${e.detector} (${e.count} request${e.count === 1 ? '' : 's'}${e.sample_paths[0] ? `, e.g. ${e.sample_paths[0]}` : ''})`);
  });

  const blocks = new Map<string, Block>();
  const announced = new Set<string>();
  const poll = (async () => {
    while (!o.signal.aborted) {
      try {
        const r = await apiCall<{ data: Block[] }>(o.base, o.token, 'GET', '/api/security/blocked-ips?limit=1000');
        if (r.status === 200) {
          blocks.clear();
          for (const b of r.body.data) blocks.set(b.ip, b);
          await o.feedEnforcer?.(blocks);
          for (const b of blocks.values()) {
            const c = o.clients.get(b.ip);
            if (!c || announced.has(b.ip)) continue;
            announced.add(b.ip);
            const until = b.expires_at === null ? 'permanently' : `for ${Math.round((b.expires_at - b.created_at) / 60_000)} min`;
            o.out(`${o.elapsed()}  BLOCKED  ${b.ip.padEnd(13)} ${KIND_LABEL[c.kind].padEnd(12)} ${until}: ${b.reason}`);
          }
        }
      } catch {
        // The next round retries; a stopped API ends the demo through its traffic anyway.
      }
      await sleep(250, undefined, { signal: o.signal }).catch(() => undefined);
    }
  })();
  return { blocks, eventsByType, eventsByDetector, ready: events.ready, done: Promise.all([poll, events.done]).then(() => undefined) };
}
