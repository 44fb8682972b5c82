// GeoDatabase.annotate with a cache of recent clients: what the ingester
// calls for every record (services/ingester/pipeline.ts).
import { parseClient } from '../ip.js';
import type { GeoDatabase, GeoFields } from './database.js';
import { NO_AS, unpackCountry } from './tables.js';

/** The country word of an empty GeoMemo slot. */
const EMPTY = 0xffffffff;

/** Slots of GeoMemo's IPv4 cache (a power of two). */
const MEMO_SLOTS = 1 << 16;

/** Slots of GeoMemo's IPv6 cache (1 << MEMO6_BITS; 8 words each). */
const MEMO6_BITS = 14;
const MEMO6_SLOTS = 1 << MEMO6_BITS;

/**
 * GeoDatabase.annotate with direct-mapped caches of recent clients: a client
 * sends many requests, and one slot (one cache line) costs less than the jump
 * table and segment reads of a search over megabytes of tables that the rest
 * of the ingester keeps out of the CPU caches. Keyed by the parsed address (no
 * string hashing, and the address is parsed once); a colliding client
 * replaces the slot.
 */
export class GeoMemo {
  /**
   * An IPv4 slot is four words, one cache line read per hit: the address, the
   * packed country (0: unknown), the ASN, the organisation's name id
   * (db.nameId: its place in db.seenNames; NO_AS: no AS). An empty slot's
   * country word is EMPTY (no packed country is).
   */
  private readonly slots = new Uint32Array(4 * MEMO_SLOTS).fill(EMPTY);
  /** An IPv6 slot is eight words: the address's four, then country, ASN, name id as above, one unused. */
  private readonly slots6 = new Uint32Array(8 * MEMO6_SLOTS).fill(EMPTY);
  private readonly v4 = new Uint32Array(1);
  private readonly words = new Uint32Array(4);
  private readonly groups = new Uint16Array(8);

  /** db.seenNames (only ever appended to): what the slots' name ids index. */
  private readonly names: string[];

  constructor(private readonly db: GeoDatabase) {
    this.names = db.seenNames;
  }

  /**
   * The process's memo of `db`: what it holds depends on the database alone,
   * so every pipeline of a process (a restart of one, replay beside the
   * ingester) finds it warm, and 1.5 MiB of slots exist once.
   */
  static of(db: GeoDatabase): GeoMemo {
    let m = memos.get(db);
    if (m === undefined) memos.set(db, (m = new GeoMemo(db)));
    return m;
  }

  annotate(rec: GeoFields): void {
    const kind = parseClient(rec.client_ip, this.v4, this.words, this.groups);
    if (kind === 0) return;
    let s: Uint32Array;
    let at: number;
    if (kind === 4) {
      const a = this.v4[0] as number;
      s = this.slots;
      at = 4 * (Math.imul(a, 0x9e3779b1) >>> 16);
      if (s[at] !== a || s[at + 1] === EMPTY) {
        const rows = this.db.rows4;
        const row = this.db.segment4(a);
        s[at] = a;
        s[at + 1] = rows[row + 1] as number;
        s[at + 2] = rows[row + 2] as number;
        s[at + 3] = this.db.nameId(rows[row + 3] as number);
      }
      at += 1;
    } else {
      const w = this.words;
      const w0 = w[0] as number, w1 = w[1] as number, w2 = w[2] as number, w3 = w[3] as number;
      s = this.slots6;
      at = 8 * (Math.imul(w0 ^ Math.imul(w1, 0x85ebca6b) ^ Math.imul(w2, 0xc2b2ae35) ^ w3, 0x9e3779b1) >>> (32 - MEMO6_BITS));
      if (s[at + 4] === EMPTY || s[at] !== w0 || s[at + 1] !== w1 || s[at + 2] !== w2 || s[at + 3] !== w3) {
        s.set(w, at);
        this.db.answer6(w, s, at + 4);
        s[at + 6] = this.db.nameId(s[at + 6] as number);
      }
      at += 4;
    }
    const cc = s[at] as number;
    if (rec.country === null && cc !== 0) rec.country = unpackCountry(cc);
    const name = s[at + 2] as number;
    if (name !== NO_AS) {
      rec.asn = s[at + 1];
      rec.as_org = this.names[name];
    }
  }
}

const memos = new WeakMap<GeoDatabase, GeoMemo>();
