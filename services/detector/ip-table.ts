// Per-IP window state in flat typed arrays: an open-addressing hash table
// keyed by a 64-bit hash of the address, with each slot's counters in
// struct-of-arrays layout. No JS object per IP, so memory per tracked IP is
// constant and small (see BYTES_PER_SLOT), and an idle IP costs nothing to
// forget: its slot is simply reused once its last bucket left the window.
//
// Per slot:
//   key        2 × u32    hash of the address (a collision at 1M IPs: ~3e-8)
//   last       u32        absolute index of the newest bucket touched
//   ring16     B × 2 u16  per bucket: requests and offence weight, both in eighths (a static
//                         asset or a revalidation weighs one eighth of a page), saturating at 65535
//   ring8      B × 4 u8   per bucket: 404s, auth failures, new paths, new paths answered
//                         with an error (saturating at 255; thresholds are capped at 255)
//   paths      K × (u32 hash, u16 hits, u16 first bucket)  recently requested paths
//   flags      u8         which detectors are currently firing
// The table's capacity is not a power of two (hashes map onto it by
// multiply-shift), so it can grow by half and stay 47–70% full.

export const BUCKETS = 12;
export const PATHS = 8;

/** Counter columns of the ring: the first two are 16-bit (in eighths: see EIGHTHS), the others 8-bit. */
export const C_REQ = 0;
export const C_OFFENCE = 1;
export const C_404 = 2;
export const C_AUTH = 3;
export const C_NEWPATH = 4;
/** New paths answered with a status ≥ 400: a scan's misses, not a crawler's or an app's pages. */
export const C_NEWPATH_ERR = 5;
const WIDE = 2;
const NARROW = 4;
/** Requests and offence weight are counted in eighths of a whole request or point. */
export const EIGHTHS = 8;

const EMPTY = 0;

export const BYTES_PER_SLOT = 2 * 4 + 4 + BUCKETS * WIDE * 2 + BUCKETS * NARROW + PATHS * (4 + 2 + 2) + 1;

/** 64-bit FNV-1a of a string's UTF-16 units, as two u32 halves (never 0,0: 0 marks an empty slot). */
export function hash64(s: string): [number, number] {
  let h1 = 0x811c9dc5;
  let h2 = 0x050c5d1f;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h1 >>> 15);
  }
  h1 >>>= 0;
  h2 >>>= 0;
  if (h1 === EMPTY && h2 === EMPTY) h2 = 1;
  return [h1, h2];
}

/** 32-bit FNV-1a (path identity inside one IP's table). Never 0. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h >>>= 0;
  return h === 0 ? 1 : h;
}

/** Home slot of a key: multiply-shift onto [0, cap), so cap need not be a power of two. */
function home(hi: number, lo: number, cap: number): number {
  const h = (hi ^ Math.imul(lo, 0x9e3779b1)) >>> 0;
  return Math.floor((h / 4294967296) * cap);
}

export class IpTable {
  capacity: number;
  keyHi!: Uint32Array;
  keyLo!: Uint32Array;
  last!: Uint32Array;
  ring16!: Uint16Array;
  ring8!: Uint8Array;
  pathHash!: Uint32Array;
  pathHits!: Uint16Array;
  pathFirst!: Uint16Array;
  flags!: Uint8Array;
  /** Slots holding an IP seen within the window (approximate: decremented on reuse and rebuild). */
  live = 0;
  private used = 0;

  constructor(
    capacity: number,
    private readonly windowBuckets: number = BUCKETS,
  ) {
    this.capacity = Math.max(1024, Math.ceil(capacity / 0.7));
    this.alloc(this.capacity);
  }

  private alloc(n: number): void {
    this.keyHi = new Uint32Array(n);
    this.keyLo = new Uint32Array(n);
    this.last = new Uint32Array(n);
    this.ring16 = new Uint16Array(n * BUCKETS * WIDE);
    this.ring8 = new Uint8Array(n * BUCKETS * NARROW);
    this.pathHash = new Uint32Array(n * PATHS);
    this.pathHits = new Uint16Array(n * PATHS);
    this.pathFirst = new Uint16Array(n * PATHS);
    this.flags = new Uint8Array(n);
    this.used = 0;
    this.live = 0;
  }

  /** Bytes held by the table's arrays. */
  bytes(): number {
    return this.capacity * BYTES_PER_SLOT;
  }

  private expired(slot: number, nowBucket: number): boolean {
    return nowBucket - (this.last[slot] as number) >= this.windowBuckets;
  }

  /**
   * The slot of `key`, claiming one (and clearing it) when the IP is new or its
   * old state left the window. Grows the table when it gets too full of live IPs.
   */
  slotFor(hi: number, lo: number, nowBucket: number): number {
    if (this.used * 10 > this.capacity * 7) this.rebuild(nowBucket);
    const cap = this.capacity;
    let i = home(hi, lo, cap);
    let reusable = -1;
    while (true) {
      const khi = this.keyHi[i] as number;
      const klo = this.keyLo[i] as number;
      if (khi === EMPTY && klo === EMPTY) break;
      if (khi === hi && klo === lo) {
        if (this.expired(i, nowBucket)) this.clear(i);
        return i;
      }
      if (reusable < 0 && this.expired(i, nowBucket)) reusable = i;
      i = i + 1 === cap ? 0 : i + 1;
    }
    let slot = i;
    if (reusable >= 0) {
      slot = reusable;
    } else {
      this.used++;
    }
    this.keyHi[slot] = hi;
    this.keyLo[slot] = lo;
    this.clear(slot);
    this.last[slot] = nowBucket;
    this.live++;
    return slot;
  }

  /** Empties the slot's window (counters, paths, firing flags); the key stays. */
  clear(slot: number): void {
    this.ring16.fill(0, slot * BUCKETS * WIDE, (slot + 1) * BUCKETS * WIDE);
    this.ring8.fill(0, slot * BUCKETS * NARROW, (slot + 1) * BUCKETS * NARROW);
    this.pathHash.fill(0, slot * PATHS, (slot + 1) * PATHS);
    this.pathHits.fill(0, slot * PATHS, (slot + 1) * PATHS);
    this.flags[slot] = 0;
  }

  /** Drops expired slots; doubles the capacity when live IPs fill more than half of it. */
  private rebuild(nowBucket: number): void {
    const old = {
      cap: this.capacity,
      keyHi: this.keyHi,
      keyLo: this.keyLo,
      last: this.last,
      ring16: this.ring16,
      ring8: this.ring8,
      pathHash: this.pathHash,
      pathHits: this.pathHits,
      pathFirst: this.pathFirst,
      flags: this.flags,
    };
    let liveNow = 0;
    for (let s = 0; s < old.cap; s++) if ((old.keyHi[s] !== EMPTY || old.keyLo[s] !== EMPTY) && nowBucket - (old.last[s] as number) < this.windowBuckets) liveNow++;
    // Grow by half when live IPs alone fill more than half; otherwise just sweep the expired.
    const cap = liveNow * 2 > old.cap ? Math.ceil(old.cap * 1.5) : old.cap;
    this.capacity = cap;
    this.alloc(cap);
    for (let s = 0; s < old.cap; s++) {
      const hi = old.keyHi[s] as number;
      const lo = old.keyLo[s] as number;
      if ((hi === EMPTY && lo === EMPTY) || nowBucket - (old.last[s] as number) >= this.windowBuckets) continue;
      let i = home(hi, lo, cap);
      while (this.keyHi[i] !== EMPTY || this.keyLo[i] !== EMPTY) i = i + 1 === cap ? 0 : i + 1;
      this.keyHi[i] = hi;
      this.keyLo[i] = lo;
      this.last[i] = old.last[s] as number;
      this.ring16.set(old.ring16.subarray(s * BUCKETS * WIDE, (s + 1) * BUCKETS * WIDE), i * BUCKETS * WIDE);
      this.ring8.set(old.ring8.subarray(s * BUCKETS * NARROW, (s + 1) * BUCKETS * NARROW), i * BUCKETS * NARROW);
      this.pathHash.set(old.pathHash.subarray(s * PATHS, (s + 1) * PATHS), i * PATHS);
      this.pathHits.set(old.pathHits.subarray(s * PATHS, (s + 1) * PATHS), i * PATHS);
      this.pathFirst.set(old.pathFirst.subarray(s * PATHS, (s + 1) * PATHS), i * PATHS);
      this.flags[i] = old.flags[s] as number;
      this.used++;
      this.live++;
    }
  }

  /**
   * Moves the slot's ring forward to `bucket`, zeroing the buckets that left
   * the window. Returns false when `bucket` is older than the window (late).
   */
  advance(slot: number, bucket: number): boolean {
    const last = this.last[slot] as number;
    if (bucket <= last) return last - bucket < this.windowBuckets;
    // The whole window passed since the slot's last request: no detector is still firing.
    if (bucket - last >= this.windowBuckets) this.flags[slot] = 0;
    const steps = Math.min(bucket - last, BUCKETS);
    for (let b = 1; b <= steps; b++) {
      const r = (last + b) % BUCKETS;
      const w = (slot * BUCKETS + r) * WIDE;
      const n = (slot * BUCKETS + r) * NARROW;
      this.ring16[w] = 0;
      this.ring16[w + 1] = 0;
      this.ring8[n] = 0;
      this.ring8[n + 1] = 0;
      this.ring8[n + 2] = 0;
      this.ring8[n + 3] = 0;
    }
    this.last[slot] = bucket;
    return true;
  }

  /** Adds to one counter of the bucket (saturating at the counter's width). */
  add(slot: number, bucket: number, counter: number, n = 1): void {
    const r = slot * BUCKETS + (bucket % BUCKETS);
    if (counter < WIDE) {
      const i = r * WIDE + counter;
      const v = (this.ring16[i] as number) + n;
      this.ring16[i] = v > 0xffff ? 0xffff : v;
    } else {
      const i = r * NARROW + counter - WIDE;
      const v = (this.ring8[i] as number) + n;
      this.ring8[i] = v > 0xff ? 0xff : v;
    }
  }

  /** The slot of `key` when it holds state inside the window, else -1 (nothing is claimed). */
  find(hi: number, lo: number, nowBucket: number): number {
    const cap = this.capacity;
    for (let i = home(hi, lo, cap); ; i = i + 1 === cap ? 0 : i + 1) {
      const khi = this.keyHi[i] as number;
      const klo = this.keyLo[i] as number;
      if (khi === EMPTY && klo === EMPTY) return -1;
      if (khi === hi && klo === lo) return this.expired(i, nowBucket) ? -1 : i;
    }
  }

  /** Sum of one counter over the buckets inside the window ending at the slot's last bucket. */
  sum(slot: number, counter: number): number {
    // Buckets older than the window were zeroed by advance(), so every bucket of the ring counts.
    let s = 0;
    if (counter < WIDE) {
      for (let b = 0, i = slot * BUCKETS * WIDE + counter; b < BUCKETS; b++, i += WIDE) s += this.ring16[i] as number;
    } else {
      for (let b = 0, i = slot * BUCKETS * NARROW + counter - WIDE; b < BUCKETS; b++, i += NARROW) s += this.ring8[i] as number;
    }
    return s;
  }

  /** Buckets since the path entry's period began (16-bit wrap-around: 7.5 days at 10 s buckets). */
  private pathAge(p: number, bucket: number): number {
    return (bucket - (this.pathFirst[p] as number)) & 0xffff;
  }

  /**
   * Records a hit on a path. Returns the path's hits within its tracking
   * period and whether it was new for this IP. When the IP's path table is full,
   * the least-hit path is forgotten (a path hit often stays tracked; one
   * forgotten and requested again counts as new, so distinct counts lean high
   * only for IPs touching more than PATHS paths per window).
   */
  hitPath(slot: number, pathHash: number, bucket: number): { hits: number; isNew: boolean } {
    const base = slot * PATHS;
    let victim = base;
    let victimHits = Infinity;
    for (let p = base; p < base + PATHS; p++) {
      const h = this.pathHash[p] as number;
      if (h === pathHash) {
        // A path first seen before the window started begins a new period.
        if (this.pathAge(p, bucket) >= this.windowBuckets) {
          this.pathFirst[p] = bucket & 0xffff;
          this.pathHits[p] = 1;
          return { hits: 1, isNew: true };
        }
        const v = (this.pathHits[p] as number) + 1;
        this.pathHits[p] = v > 0xffff ? 0xffff : v;
        return { hits: v, isNew: false };
      }
      if (h === 0) {
        victim = p;
        victimHits = -1;
      } else if (victimHits >= 0) {
        const hits = this.pathAge(p, bucket) >= this.windowBuckets ? 0 : (this.pathHits[p] as number);
        if (hits < victimHits) {
          victim = p;
          victimHits = hits;
        }
      }
    }
    this.pathHash[victim] = pathHash;
    this.pathHits[victim] = 1;
    this.pathFirst[victim] = bucket & 0xffff;
    return { hits: 1, isNew: true };
  }
}
