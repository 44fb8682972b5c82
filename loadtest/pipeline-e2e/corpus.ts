// The end-to-end bench's traffic, from one generated corpus (the generator's
// syslog-json lines, time-ordered): a step at a lower rate keeps every line of
// the attackers and the whole traffic of a share of the benign clients (chosen
// by a hash of the address), so that each client behaves as generated at any
// rate. Each line is sent on its own clock and its $msec rewritten to the time
// it is due, so that a line's time in the log is the time it left.

const TS_KEY = Buffer.from('{"ts":"');
const IP_KEY = Buffer.from('"client_ip":"');
const QUOTE = 0x22;
/** "1795240800.000": seconds and milliseconds, fixed width in the generator's lines until 2286. */
const TS_WIDTH = 14;

/** FNV-1a of the address, in [0, 1): whether a benign client is kept at share p is hash < p. */
export function clientHash(ip: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < ip.length; i++) {
    h ^= ip.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 2 ** 32;
}

export interface LineFields {
  /** Epoch ms of $msec. */
  ts: number;
  /** Where the 14 characters of $msec start in the line. */
  tsAt: number;
  ip: string;
}

/** The $msec and client address of a syslog-json line; undefined when it has none. */
export function fields(line: Buffer): LineFields | undefined {
  const k = line.indexOf(TS_KEY);
  if (k < 0) return undefined;
  const tsAt = k + TS_KEY.length;
  const ts = Math.round(Number(line.toString('latin1', tsAt, tsAt + TS_WIDTH)) * 1000);
  const i = line.indexOf(IP_KEY, tsAt);
  if (i < 0 || !Number.isFinite(ts)) return undefined;
  const ipAt = i + IP_KEY.length;
  const end = line.indexOf(QUOTE, ipAt);
  return { ts, tsAt, ip: line.toString('latin1', ipAt, end) };
}

/** Writes epoch ms `ms` as $msec ("SSSSSSSSSS.mmm") at `at`, in place. */
export function writeMsec(line: Buffer, at: number, ms: number): void {
  const s = `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}`;
  if (s.length !== TS_WIDTH) throw new RangeError(`$msec ${s} is not ${TS_WIDTH} characters`);
  line.write(s, at, 'latin1');
}

/** Whether a line of `ip` is part of a step that keeps `share` of the benign clients. */
export function kept(ip: string, attackers: ReadonlySet<string>, share: number): boolean {
  return attackers.has(ip) || clientHash(ip) < share;
}

/**
 * The benign share that gives `rate` lines a second over the window, from the
 * window's counts (every attacker line is kept); capped at 1.
 */
export function shareFor(rate: number, seconds: number, window: { attackerLines: number; benignLines: number }): number {
  const want = rate * seconds - window.attackerLines;
  return Math.min(1, Math.max(0, want / Math.max(1, window.benignLines)));
}
