// Who is banned, as one detection engine sees it, and the decisions that
// follow: blocks (escalated for a repeat offender, capped), range escalation,
// expiries, and what the decisions topic says others decided. The engine
// decides *that* a client is blocked; this decides for how long, records it,
// and announces it. A challenge (the tier below a block) is held here too, as
// the same address's one entry: a block replaces it, its expiry lifts it.
import { networkOfIp } from '../../shared/ip.js';
import type { BlockDecision } from '../../shared/records.js';
import type { EngineConfig } from './engine.js';

interface ActiveBan {
  until: number;
  /** A challenge, not a block. */
  challenge?: boolean;
  level: number;
  /** Decided by this engine (its expiry is this engine's to announce), or learned from the decisions topic. */
  own: boolean;
}

interface BanHistory {
  level: number;
  lastBanTs: number;
}

export class Bans {
  private readonly active = new Map<string, ActiveBan>();
  private readonly history = new Map<string, BanHistory>();
  /** Range escalation: per range, the clients banned in it and when. */
  private readonly rangeBans = new Map<string, Map<string, number>>();

  constructor(
    private readonly cfg: Pick<EngineConfig, 'autoBlock' | 'rangeEscalation' | 'windowMs'>,
    /** Where decisions go (the engine's output). */
    private readonly emit: (d: BlockDecision) => void,
  ) {}

  get size(): number {
    return this.active.size;
  }

  isBlocked(client: string, ts: number): boolean {
    const b = this.active.get(client);
    return b !== undefined && b.challenge !== true && b.until > ts;
  }

  isChallenged(client: string, ts: number): boolean {
    const b = this.active.get(client);
    return b !== undefined && b.challenge === true && b.until > ts;
  }

  /** Challenges a client at event time `ts` for `durationMs` (no escalation: a client that keeps offending is blocked). */
  challenge(client: string, ts: number, reason: string, durationMs: number): void {
    this.active.set(client, { until: ts + durationMs, level: 0, own: true, challenge: true });
    this.emit({ ip: client, action: 'challenge', reason, source: 'auto', created_at: ts, expires_at: ts + durationMs, deployment: null, escalation_level: 0 });
  }

  /** Blocks a client at event time `ts`: a repeat offender's ban grows by escalation_factor per level, capped. */
  block(client: string, ts: number, reason: string, source: 'auto' | 'filter'): void {
    const a = this.cfg.autoBlock;
    const prev = this.history.get(client);
    // A ban long forgotten starts again at level 0.
    const level = prev && ts - prev.lastBanTs < a.memoryMs ? prev.level + 1 : 0;
    const duration = Math.min(a.durationMs * a.escalationFactor ** level, a.maxDurationMs);
    this.active.set(client, { until: ts + duration, level, own: true });
    this.history.set(client, { level, lastBanTs: ts });
    this.emit({ ip: client, action: 'block', reason, source, created_at: ts, expires_at: ts + duration, deployment: null, escalation_level: level });
    if (this.cfg.rangeEscalation) this.escalateRange(client, ts, duration);
  }

  /**
   * A decision from the decisions topic, about `client`. A block marks it banned;
   * an unblock lifts it. Returns true when an operator (not an expiry) lifted it:
   * its offences should start afresh. The ban history (escalation) is kept.
   */
  learn(client: string, d: BlockDecision): boolean {
    if (d.action === 'block' || d.action === 'challenge') {
      const own = this.active.get(client);
      if (own?.own && own.until === d.expires_at) return false; // this engine's own, read back
      this.active.set(client, { until: d.expires_at ?? Infinity, level: d.escalation_level, own: false, challenge: d.action === 'challenge' });
      return false;
    }
    this.active.delete(client);
    // An expiry is not an operator's pardon: what the client did since still counts.
    return d.reason !== 'expired';
  }

  /** Several bans in one /24 (IPv4) or /64 (IPv6) within the window: block the range. */
  private escalateRange(client: string, ts: number, duration: number): void {
    const r = this.cfg.rangeEscalation;
    // An IPv6 network client is a range already.
    if (!r || client.includes('/')) return;
    const range = networkOfIp(client, r.ipv4Prefix, r.ipv6Prefix);
    const bans = this.rangeBans.get(range) ?? new Map<string, number>();
    bans.set(client, ts);
    for (const [other, at] of bans) if (ts - at > this.cfg.windowMs) bans.delete(other);
    this.rangeBans.set(range, bans);
    if (bans.size < r.minIps || this.isBlocked(range, ts)) return;
    this.active.set(range, { until: ts + duration, level: 0, own: true });
    this.emit({
      ip: range,
      action: 'block',
      reason: `auto: ${bans.size} addresses of ${range} banned within ${Math.round(this.cfg.windowMs / 1000)}s (range escalation)`,
      source: 'auto',
      created_at: ts,
      expires_at: ts + duration,
      deployment: null,
      escalation_level: 0,
    });
  }

  /** Announces this engine's expired bans, and forgets what no longer counts. */
  tick(now: number): void {
    for (const [client, b] of this.active) {
      if (b.until > now) continue;
      this.active.delete(client);
      // A ban learned from elsewhere expires where it was decided.
      if (b.own) this.emit({ ip: client, action: 'unblock', reason: 'expired', source: 'auto', created_at: b.until, expires_at: null, deployment: null, escalation_level: b.level });
    }
    for (const [client, h] of this.history) if (now - h.lastBanTs > this.cfg.autoBlock.memoryMs && !this.active.has(client)) this.history.delete(client);
    for (const [range, bans] of this.rangeBans) {
      for (const [client, at] of bans) if (now - at > this.cfg.windowMs) bans.delete(client);
      if (bans.size === 0) this.rangeBans.delete(range);
    }
  }
}
