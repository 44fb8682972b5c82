// A benchmarked process: its own CPU time and memory, read from /proc (Linux), with its
// descendants (an ingester's --workers, a detector's piscina threads are
// threads of the process itself and counted there).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** Fields of /proc/<pid>/stat (or a thread's, /proc/<pid>/task/<tid>/stat) after the command's closing parenthesis (field 3 is index 0). */
function statFields(pid: number, tid?: string): string[] | undefined {
  try {
    const s = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** `pid` and every process below it. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (!f) continue;
    const ppid = Number(f[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop() as number;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** utime + stime of a stat line's fields, in µs (0 for none: a process or thread gone). */
function statMicros(f: string[] | undefined): number {
  // utime and stime are fields 14 and 15 (indexes 11 and 12 here).
  return f ? ((Number(f[11]) + Number(f[12])) * 1e6) / ticksPerSecond() : 0;
}

/** utime + stime of `pid` and its descendants, in µs (0 for a process gone). */
export function cpuMicros(pid: number): number {
  let us = 0;
  for (const p of processTree(pid)) us += statMicros(statFields(p));
  return us;
}

/** CPU time of one process by thread, µs: where a receiver's time goes, from the kernel's own accounting. */
export interface ThreadCpu {
  /** The main thread (thread id = pid): Node's JavaScript and event loop. */
  main: number;
  /** librdkafka's own threads (named rdk:main, rdk:broker…), when the process runs that client. */
  rdkafka: number;
  /** The rest: V8's helpers (GC, compilers), libuv's pool, threads that have exited. */
  other: number;
}

function threadName(pid: number, tid: string): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** utime + stime of `pid` (not its children) split by thread (/proc/<pid>/task); all 0 for a process gone. */
export function threadCpuMicros(pid: number): ThreadCpu {
  const total = statMicros(statFields(pid)); // the process's figure counts its exited threads too
  let main = 0;
  let rdkafka = 0;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { main: 0, rdkafka: 0, other: 0 };
  }
  for (const tid of tids) {
    // A thread that ended while listed has no stat: its time is in the process's total.
    const f = statFields(pid, tid);
    if (Number(tid) === pid) main += statMicros(f);
    else if (f && threadName(pid, tid).startsWith('rdk:')) rdkafka += statMicros(f);
  }
  return { main, rdkafka, other: Math.max(0, total - main - rdkafka) };
}

/** Resident memory of `pid` and its descendants, bytes: now (VmRSS) and at its peak (VmHWM). */
export function memory(pid: number): { rss: number; peak: number } {
  let rss = 0;
  let peak = 0;
  for (const p of processTree(pid)) {
    try {
      const s = readFileSync(`/proc/${p}/status`, 'utf8');
      rss += Number(/^VmRSS:\s+(\d+) kB/m.exec(s)?.[1] ?? 0) * 1024;
      peak += Number(/^VmHWM:\s+(\d+) kB/m.exec(s)?.[1] ?? 0) * 1024;
    } catch {
      /* gone */
    }
  }
  return { rss, peak };
}

/** CPU time of this process's reaped children (cutime + cstime), µs: what a waited-for child used. */
export function reapedChildrenCpuMicros(): number {
  const f = statFields(process.pid);
  return f ? ((Number(f[13]) + Number(f[14])) * 1e6) / ticksPerSecond() : 0;
}

/** Resolves when `child` has printed `marker` (stdout or stderr); rejects if it exits first or after 60 s. */
export async function waitForOutput(child: ChildProcess, marker: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (b: Buffer): void => {
      out += b.toString();
      if (out.includes(marker)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited with ${code}: ${out.slice(-500)}`)));
    setTimeout(() => reject(new Error(`no "${marker}" within 60 s: ${out.slice(-500)}`)), 60_000).unref();
  });
}
