// A set of addresses and blocks for per-request membership tests: grouped by
// prefix length, one masked Set lookup per distinct length, longest first
// (exact addresses are the common case). Lookups take the client as
// parseClient leaves it in scratch, so a test allocates nothing for IPv4 and
// nothing for IPv6 clients outside every block's first word.
import { maskWords, parseBlock, wordMask } from './parse.js';

export class IpSet {
  private readonly v4Masks: number[] = [];
  private readonly v4Nets: Array<Set<number>> = [];
  /** Per distinct IPv6 prefix length, the masks of its four words. */
  private readonly v6Masks: Array<[number, number, number, number]> = [];
  /** The masked first words: most clients are rejected before a key string is built. */
  private readonly v6Firsts: Array<Set<number>> = [];
  private readonly v6Nets: Array<Set<string>> = [];

  /** Entries in the strict forms of parseBlock (validated before); host bits are cleared here. */
  constructor(entries: readonly string[]) {
    const v4 = new Map<number, Set<number>>();
    const v6 = new Map<number, Set<string>>();
    for (const e of entries) {
      const b = parseBlock(e);
      if (b === null) throw new Error(`not an address or CIDR block: ${JSON.stringify(e)}`); // a caller bug: entries are validated first
      const m = maskWords(b.words, b.prefix, b.v4);
      if (b.v4) {
        let set = v4.get(b.prefix);
        if (!set) v4.set(b.prefix, (set = new Set()));
        set.add(m[0]);
      } else {
        let set = v6.get(b.prefix);
        if (!set) v6.set(b.prefix, (set = new Set()));
        set.add(v6Key(m[0], m[1], m[2], m[3]));
      }
    }
    for (const p of [...v4.keys()].sort((a, b) => b - a)) {
      this.v4Masks.push(wordMask(p));
      this.v4Nets.push(v4.get(p) as Set<number>);
    }
    for (const p of [...v6.keys()].sort((a, b) => b - a)) {
      this.v6Masks.push([wordMask(p), wordMask(p - 32), wordMask(p - 64), wordMask(p - 96)]);
      this.v6Nets.push(v6.get(p) as Set<string>);
      this.v6Firsts.push(new Set([...(v6.get(p) as Set<string>)].map((k) => Number(k.slice(0, k.indexOf(':'))))));
    }
  }

  hasV4(addr: number): boolean {
    for (let i = 0; i < this.v4Masks.length; i++) {
      if ((this.v4Nets[i] as Set<number>).has((addr & (this.v4Masks[i] as number)) >>> 0)) return true;
    }
    return false;
  }

  hasV6(w: Uint32Array): boolean {
    for (let i = 0; i < this.v6Masks.length; i++) {
      const m = this.v6Masks[i] as [number, number, number, number];
      if (!(this.v6Firsts[i] as Set<number>).has(((w[0] as number) & m[0]) >>> 0)) continue;
      const key = v6Key(((w[0] as number) & m[0]) >>> 0, ((w[1] as number) & m[1]) >>> 0, ((w[2] as number) & m[2]) >>> 0, ((w[3] as number) & m[3]) >>> 0);
      if ((this.v6Nets[i] as Set<string>).has(key)) return true;
    }
    return false;
  }
}

function v6Key(a: number, b: number, c: number, d: number): string {
  return `${a}:${b}:${c}:${d}`;
}
