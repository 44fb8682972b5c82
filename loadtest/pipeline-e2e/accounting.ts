// The end-to-end bench's arithmetic, pure: counts from partition offsets, a
// consumer group's lag, whether a step passed, the next rate of the search,
// percentiles, CPU per line.

export interface Offset {
  partition: number;
  offset: string;
}

/** Records in a topic created for the run (its partitions start at 0): the sum of the end offsets. */
export function total(ends: readonly Offset[]): number {
  return ends.reduce((n, o) => n + Number(o.offset), 0);
}

/**
 * A group's lag over a topic created for the run: per partition, end − committed;
 * a partition the group has not committed yet lags by all it holds.
 */
export function lag(ends: readonly Offset[], committed: readonly Offset[]): number {
  const at = new Map(committed.map((c) => [c.partition, Number(c.offset)]));
  return ends.reduce((n, e) => n + Math.max(0, Number(e.offset) - (at.get(e.partition) ?? 0)), 0);
}

export interface StepCounts {
  /** Lines a second offered: the lines of the hold over its seconds. */
  rate: number;
  /** Lines the sender picked for the hold. */
  planned: number;
  /** How late the sender was on the lines' own clock, p99, ms. */
  senderLateP99Ms: number;
  /** Lines handed to the kernel (UDP) or written to the relay's connection (TCP). */
  sent: number;
  /** Seconds the sender took to send them. */
  sendSeconds: number;
  /** AccessRecords on the topic and lines dead-lettered (rejected), after the drain. */
  onTopic: number;
  rejected: number;
  /** Rows the sink had ClickHouse acknowledge in `requests`, after the drain. */
  stored: number;
  /** Each consumer group's lag over the access topic at the end of the hold, in records. */
  lagAtEnd: Record<string, number>;
  attackers: number;
  blocked: number;
}

export interface Verdict {
  pass: boolean;
  /** Why not, one reason each; empty when it passed. */
  reasons: string[];
}

/** The sender kept pace when 99% of its lines left within this of their time. */
export const SENDER_LATE_MAX_MS = 1000;

/**
 * Sustained means: the sender kept its pace (99% of the lines left within
 * SENDER_LATE_MAX_MS of their time, and every one left), no line lost (sent = on the topic = stored, none rejected), every
 * attacker blocked at nginx, and every group's lag at the end of the hold within
 * `lagBoundS` seconds of traffic.
 */
export function verdict(c: StepCounts, lagBoundS: number): Verdict {
  const reasons: string[] = [];
  if (c.sent < c.planned || c.senderLateP99Ms > SENDER_LATE_MAX_MS) reasons.push(`sender behind: ${c.sent} of ${c.planned} lines sent, p99 ${c.senderLateP99Ms} ms late (this machine's CPU, not the pipeline)`);
  if (c.onTopic + c.rejected !== c.sent) reasons.push(`ingest: ${c.sent - c.onTopic - c.rejected} of ${c.sent} lines not on the topic`);
  if (c.rejected > 0) reasons.push(`ingest: ${c.rejected} lines rejected`);
  if (c.stored !== c.onTopic) reasons.push(`sink: ${c.onTopic - c.stored} of ${c.onTopic} records not stored`);
  if (c.blocked < c.attackers) reasons.push(`enforcement: ${c.attackers - c.blocked} of ${c.attackers} attackers not refused by nginx`);
  for (const [group, n] of Object.entries(c.lagAtEnd)) {
    if (n > lagBoundS * c.rate) reasons.push(`${group}: lag ${n} records (${(n / c.rate).toFixed(1)} s of traffic) > ${lagBoundS} s`);
  }
  return { pass: reasons.length === 0, reasons };
}

/**
 * The rate search: the coarse steps in order until one fails, then one
 * bisection between the highest that passed and the lowest that failed (or half
 * the first step when it failed). undefined when the search is over.
 */
export function nextRate(steps: readonly number[], tried: ReadonlyArray<{ rate: number; pass: boolean }>, bisect: boolean): number | undefined {
  const failed = tried.filter((t) => !t.pass).map((t) => t.rate);
  const passed = tried.filter((t) => t.pass).map((t) => t.rate);
  if (failed.length === 0) return steps.find((s) => !tried.some((t) => t.rate === s));
  const lowFail = Math.min(...failed);
  const highPass = Math.max(0, ...passed.filter((r) => r < lowFail));
  const coarseDone = tried.length >= 1 && steps.filter((s) => s <= lowFail).every((s) => tried.some((t) => t.rate === s));
  const bisected = tried.some((t) => !steps.includes(t.rate));
  if (!bisect || !coarseDone || bisected) return undefined;
  const mid = Math.round((highPass + lowFail) / 2 / 100) * 100;
  return mid > highPass && mid < lowFail ? mid : undefined;
}

/** The p-quantile (0..1) of `xs` by nearest rank; NaN when empty. */
export function quantile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] as number;
}

/** CPU µs per line: a process's CPU over a span divided by the lines of that span. */
export function perLine(cpuMicrosSpent: number, lines: number): number {
  return lines > 0 ? cpuMicrosSpent / lines : Number.NaN;
}
