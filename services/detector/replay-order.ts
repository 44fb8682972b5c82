// A replay's records reach the engine in log order, each with its crawler
// verdict, and the first request of a client claiming a crawler waits for DNS's
// answer (so a replay's verdicts never depend on how fast DNS answered). Waiting
// need not stall parsing: while a verdict is awaited, the lines after it are
// parsed and held — at most HOLD_MAX of them, and only while a lookup is under
// way — each held claim starting its own lookup at once, so lookups overlap each
// other and the parsing. When the verdict comes, the held records are detected
// in their order, with the same engine ticks as if none had been held.
//
// Why so few: holding every record for a while (a lookahead of 4,096 lines, tried
// and reverted in f5f3462) kept records alive past V8's young generation and
// cost more than the waits it hid. A loopback or LAN resolver answers within the
// time a few hundred lines take to parse; past HOLD_MAX the reader waits.
import type { AccessRecord } from '../../shared/records.js';
import type { CrawlerVerdict, CrawlerVerifier } from './crawlers/verify.js';
import type { CrawlerCheck } from './engine.js';

/** Records held at most while a verdict is awaited. */
export const HOLD_MAX = 256;

const COMPACT_AT = 4 * HOLD_MAX;

const NOT_CLAIMED: CrawlerVerdict = { status: 'not-claimed' };

/**
 * The verdict the replay obtained for the record being detected, handed to the
 * engine as its CrawlerCheck: the claim is matched and looked up once per
 * record, not again inside the engine.
 */
export class GivenVerdict implements CrawlerCheck {
  verdict: CrawlerVerdict = NOT_CLAIMED;
  check(): CrawlerVerdict {
    return this.verdict;
  }
}

export class InOrder {
  private readonly held: Array<AccessRecord | undefined> = [];
  private readonly verdicts: CrawlerVerdict[] = [];
  private head = 0;
  private draining: Promise<void> | undefined;

  constructor(
    private readonly verifier: CrawlerVerifier | undefined,
    /** Detects one record with its verdict, in log order. */
    private readonly detect: (rec: AccessRecord, verdict: CrawlerVerdict) => void,
    private readonly holdMax = HOLD_MAX,
  ) {}

  /** The next record in log order. A promise when the caller must wait before offering more (the hold is full). */
  offer(rec: AccessRecord): Promise<void> | undefined {
    const verdict = this.verifier ? this.verifier.check(rec.client_ip, rec.user_agent) : NOT_CLAIMED;
    if (this.draining === undefined) {
      if (verdict.status !== 'pending') return void this.detect(rec, verdict);
      this.hold(rec, verdict);
      this.draining = this.drain();
      return undefined;
    }
    this.hold(rec, verdict);
    return this.held.length - this.head >= this.holdMax ? this.draining : undefined;
  }

  /** Resolves once every record offered has been detected. */
  async done(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private hold(rec: AccessRecord, verdict: CrawlerVerdict): void {
    this.held.push(rec);
    this.verdicts.push(verdict);
  }

  private async drain(): Promise<void> {
    const verifier = this.verifier as CrawlerVerifier;
    while (this.head < this.held.length) {
      const i = this.head;
      const rec = this.held[i] as AccessRecord;
      let verdict = this.verdicts[i] as CrawlerVerdict;
      // Pending when held: its lookup (or an earlier one of its address) has started; ask again.
      if (verdict.status === 'pending') {
        verdict = verifier.check(rec.client_ip, rec.user_agent);
        if (verdict.status === 'pending') verdict = await verifier.verify(rec.client_ip, rec.user_agent);
      }
      this.held[i] = undefined;
      this.head = i + 1;
      this.detect(rec, verdict);
      // Lookups back to back keep it draining: drop what was detected now and then.
      if (this.head >= COMPACT_AT) {
        this.held.splice(0, this.head);
        this.verdicts.splice(0, this.head);
        this.head = 0;
      }
    }
    this.held.length = 0;
    this.verdicts.length = 0;
    this.head = 0;
    this.draining = undefined;
  }
}
