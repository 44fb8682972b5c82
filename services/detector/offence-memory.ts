// A decaying memory of each client's offences, reaching past the sliding
// window: a slow brute forcer (one failed login every ten seconds), a scanner
// that pauses between bursts, never fills one window with enough evidence, but
// its offences add up here, halving every `halfLifeMs` (the way fail2ban's
// findtime and CrowdSec's leaky buckets look further back than a burst).
//
// Only offenders are held, in flat typed arrays keyed like the IP table (a
// 64-bit hash of the client): 16 bytes an entry, no object per client. An
// entry whose score decayed below FORGET is dropped when the table is swept;
// a full table sweeps, then grows.
//
// Scores are in the same eighths as the IP table's offence counter.

const EMPTY = 0;
/** Below this (in eighths: a quarter point) an entry is forgotten at the next sweep. */
const FORGET = 2;

export class OffenceMemory {
  private capacity: number;
  private keyHi!: Uint32Array;
  private keyLo!: Uint32Array;
  private score!: Float32Array;
  /** Event time of the last update, in seconds. */
  private at!: Uint32Array;
  private used = 0;

  constructor(
    private readonly halfLifeMs: number,
    capacity = 4096,
  ) {
    this.capacity = Math.max(256, Math.ceil(capacity / 0.7));
    this.alloc(this.capacity);
  }

  get size(): number {
    return this.used;
  }

  bytes(): number {
    return this.capacity * 16;
  }

  private alloc(n: number): void {
    this.keyHi = new Uint32Array(n);
    this.keyLo = new Uint32Array(n);
    this.score = new Float32Array(n);
    this.at = new Uint32Array(n);
    this.used = 0;
  }

  private decayed(i: number, nowSec: number): number {
    return this.decayedOf(this.score, this.at, i, nowSec);
  }

  private slot(hi: number, lo: number): number {
    const cap = this.capacity;
    let i = Math.floor((((hi ^ Math.imul(lo, 0x9e3779b1)) >>> 0) / 4294967296) * cap);
    while (true) {
      const khi = this.keyHi[i] as number;
      const klo = this.keyLo[i] as number;
      if ((khi === EMPTY && klo === EMPTY) || (khi === hi && klo === lo)) return i;
      i = i + 1 === cap ? 0 : i + 1;
    }
  }

  /** The client's score now (eighths). */
  get(hi: number, lo: number, nowMs: number): number {
    const i = this.slot(hi, lo);
    return this.keyHi[i] === EMPTY && this.keyLo[i] === EMPTY ? 0 : this.decayed(i, Math.floor(nowMs / 1000));
  }

  /** Adds `weight` (eighths) at event time `nowMs`; returns the new score. */
  add(hi: number, lo: number, nowMs: number, weight: number): number {
    if (this.halfLifeMs <= 0 || weight <= 0) return this.get(hi, lo, nowMs);
    if (this.used * 10 > this.capacity * 7) this.sweep(nowMs);
    const nowSec = Math.floor(nowMs / 1000);
    const i = this.slot(hi, lo);
    const fresh = this.keyHi[i] === EMPTY && this.keyLo[i] === EMPTY;
    // A record older than the last update (within late tolerance) adds at full weight.
    const s = (fresh ? 0 : this.decayed(i, nowSec)) + weight;
    if (fresh) {
      this.keyHi[i] = hi;
      this.keyLo[i] = lo;
      this.used++;
    }
    this.score[i] = s;
    this.at[i] = Math.max(nowSec, fresh ? 0 : (this.at[i] as number));
    return s;
  }

  /** Forgets the client (an operator lifted its block: it starts afresh). */
  clear(hi: number, lo: number): void {
    const i = this.slot(hi, lo);
    if (this.keyHi[i] === EMPTY && this.keyLo[i] === EMPTY) return;
    this.score[i] = 0;
  }

  /** Drops what decayed away; grows by half when what is left still fills half the table. */
  private sweep(nowMs: number): void {
    const nowSec = Math.floor(nowMs / 1000);
    const old = { cap: this.capacity, keyHi: this.keyHi, keyLo: this.keyLo, score: this.score, at: this.at };
    let keep = 0;
    for (let i = 0; i < old.cap; i++) if ((old.keyHi[i] !== EMPTY || old.keyLo[i] !== EMPTY) && this.decayedOf(old.score, old.at, i, nowSec) >= FORGET) keep++;
    this.capacity = keep * 2 > old.cap ? Math.ceil(old.cap * 1.5) : old.cap;
    this.alloc(this.capacity);
    for (let i = 0; i < old.cap; i++) {
      const hi = old.keyHi[i] as number;
      const lo = old.keyLo[i] as number;
      if (hi === EMPTY && lo === EMPTY) continue;
      const s = this.decayedOf(old.score, old.at, i, nowSec);
      if (s < FORGET) continue;
      const j = this.slot(hi, lo);
      this.keyHi[j] = hi;
      this.keyLo[j] = lo;
      this.score[j] = s;
      this.at[j] = Math.max(nowSec, old.at[i] as number);
      this.used++;
    }
  }

  private decayedOf(score: Float32Array, at: Uint32Array, i: number, nowSec: number): number {
    const dt = nowSec - (at[i] as number);
    const s = score[i] as number;
    return dt <= 0 ? s : s * 2 ** ((-dt * 1000) / this.halfLifeMs);
  }
}
