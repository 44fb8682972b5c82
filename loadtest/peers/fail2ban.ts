// fail2ban as a peer of the detector replay benchmark: `fail2ban-regex` runs
// the Debian package's own filters over an access log in nginx's combined
// format, each filter timed on its own; the jail thresholds of the package's
// jail.conf (maxretry within findtime) are then applied to the matches, which
// is what a running fail2ban would have banned.
//
// Only the filters whose regular expressions read an access log are run:
// nginx-http-auth and nginx-limit-req match lines of nginx's error log only,
// so on an access log they match nothing by construction.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Filters of fail2ban 1.0 (Debian 12) that match access-log lines. */
export const ACCESS_LOG_FILTERS = [
  // Its jail reads the error log by default, but the filter also matches 404s on webmail/phpMyAdmin/wp-login paths in an access log.
  'nginx-botsearch',
  // 400 answers (nginx's own "bad request"): its jail reads nginx's access log.
  'nginx-bad-request',
  // PHP remote-include attempts (`?x=http://…`): its jail reads nginx's and Apache's access logs.
  'php-url-fopen',
  // Spam-harvester user agents: named for Apache, but the line it expects is the combined format nginx writes too.
  'apache-badbots',
] as const;

/** Filters of the package that cannot match an access log (error-log only), named in the report. */
export const ERROR_LOG_FILTERS = ['nginx-http-auth', 'nginx-limit-req'] as const;

const FILTER_DIR = '/etc/fail2ban/filter.d';
const JAIL_DIR = '/etc/fail2ban';

export interface JailThresholds {
  maxretry: number;
  findtime_s: number;
  bantime_s: number;
}

export interface Fail2banFilterResult {
  filter: string;
  lines: number;
  seconds: number;
  lines_per_second: number;
  matches: number;
  jail: JailThresholds;
  /** Match times (epoch seconds, the log's own) per IP. */
  matched: Map<string, number[]>;
  /** IPs the jail would have banned: maxretry matches within findtime. Value: log time of the first ban (epoch s). */
  banned: Map<string, number>;
  /** fail2ban-regex exited non-zero or printed an error. */
  error: string | null;
}

export type Fail2banResult =
  | { available: true; version: string; file: string; lines: number; filters: Fail2banFilterResult[]; not_run: string[] }
  | { available: false; reason: string };

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** Installs the package if missing (root on Debian); false with the reason when it cannot be used. */
function ensureInstalled(): string | null {
  const r = spawnSync('bash', [join(root, 'loadtest/peers/apt-install.sh'), 'fail2ban'], { encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] });
  if (r.status === 0 && existsSync('/usr/bin/fail2ban-regex')) return null;
  const why = (r.stderr ?? '').trim().split('\n').filter(Boolean).pop() ?? `apt-install.sh exited ${r.status}`;
  return existsSync('/usr/bin/fail2ban-regex') ? null : `fail2ban not installed (${why}): peer skipped`;
}

/** fail2ban's time spans: `600`, `10m`, `48h`, `1w`, `1d 12h`. */
export function parseFail2banDuration(text: string): number | null {
  const units: Record<string, number> = {
    '': 1, s: 1, sec: 1, second: 1, seconds: 1, m: 60, min: 60, minute: 60, minutes: 60, h: 3600, hour: 3600, hours: 3600,
    d: 86_400, day: 86_400, days: 86_400, w: 604_800, week: 604_800, weeks: 604_800,
  };
  const t = text.trim().toLowerCase();
  if (!/^(\d+(\.\d+)?\s*[a-z]*\s*)+$/.test(t)) return null;
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)\s*([a-z]*)/g)) {
    const k = units[m[2] ?? ''];
    if (k === undefined) return null;
    total += Number(m[1]) * k;
  }
  return total;
}

/**
 * The jail's maxretry/findtime/bantime as fail2ban would resolve them: jail.conf,
 * then jail.d/*.conf, then jail.local and jail.d/*.local; a jail's own keys
 * over [DEFAULT]. Interpolated values (`%(x)s`) fall back to the default.
 */
export function jailThresholds(jail: string, dir = JAIL_DIR): JailThresholds {
  const files: string[] = [];
  const add = (f: string): void => {
    if (existsSync(f)) files.push(f);
  };
  const dropins = (ext: string): void => {
    const d = join(dir, 'jail.d');
    if (!existsSync(d)) return;
    for (const f of readdirSync(d).filter((n) => n.endsWith(ext)).sort()) add(join(d, f));
  };
  add(join(dir, 'jail.conf'));
  dropins('.conf');
  add(join(dir, 'jail.local'));
  dropins('.local');
  const sections = new Map<string, Map<string, string>>();
  for (const f of files) {
    let section = '';
    for (const raw of readFileSync(f, 'utf8').split('\n')) {
      if (/^\s*[#;]/.test(raw)) continue;
      const head = /^\[([^\]]+)\]/.exec(raw);
      if (head) {
        section = head[1] as string;
        continue;
      }
      const kv = /^([A-Za-z_.]+)\s*=\s*(.*)$/.exec(raw);
      if (!kv || !section) continue;
      const s = sections.get(section) ?? new Map<string, string>();
      s.set(kv[1] as string, (kv[2] as string).trim());
      sections.set(section, s);
    }
  }
  const pick = (key: string, fallback: number, parse: (v: string) => number | null): number => {
    for (const s of [jail, 'DEFAULT']) {
      const v = sections.get(s)?.get(key);
      const n = v === undefined ? null : parse(v);
      if (n !== null) return n;
    }
    return fallback;
  };
  const int = (v: string): number | null => (/^\d+$/.test(v) ? Number(v) : null);
  return {
    maxretry: pick('maxretry', 5, int),
    findtime_s: pick('findtime', 600, parseFail2banDuration),
    bantime_s: pick('bantime', 600, parseFail2banDuration),
  };
}

/** A jail bans an IP at its maxretry-th failure within findtime; its failure count starts over after a ban. */
export function simulateJail(times: number[], t: JailThresholds): number | null {
  const sorted = [...times].sort((a, b) => a - b);
  let from = 0;
  for (let i = 0; i < sorted.length; i++) {
    while ((sorted[i] as number) - (sorted[from] as number) >= t.findtime_s) from++;
    if (i - from + 1 >= t.maxretry) return sorted[i] as number;
  }
  return null;
}

/** One `-o row` line: `['203.0.113.7', 1795240952, {...}]` (the time is the log's, epoch seconds). */
const ROW = /^\['([^']+)',\s*(\d+(?:\.\d+)?),/;

async function runFilter(file: string, lines: number, filter: string): Promise<Fail2banFilterResult> {
  const matched = new Map<string, number[]>();
  let matches = 0;
  let stderr = '';
  const t0 = process.hrtime.bigint();
  // -r and --usedns=no: never resolve a name (no traffic beyond loopback); the log holds addresses only.
  const child = spawn('fail2ban-regex', ['-r', '--usedns=no', '-o', 'row', file, join(FILTER_DIR, `${filter}.conf`)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let rest = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      const m = ROW.exec(line);
      if (!m) continue;
      matches++;
      const ip = m[1] as string;
      const list = matched.get(ip) ?? [];
      list.push(Number(m[2]));
      matched.set(ip, list);
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    stderr += c;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const jail = jailThresholds(filter);
  const banned = new Map<string, number>();
  for (const [ip, times] of matched) {
    const at = simulateJail(times, jail);
    if (at !== null) banned.set(ip, at);
  }
  const err = stderr.split('\n').find((l) => /error|traceback/i.test(l)) ?? null;
  return {
    filter,
    lines,
    seconds,
    lines_per_second: Math.round(lines / seconds),
    matches,
    jail,
    matched,
    banned,
    error: code !== 0 ? `fail2ban-regex exited ${code}: ${stderr.trim().slice(0, 300)}` : err,
  };
}

/** Runs every access-log filter over `file` (`lines` lines, combined format), one after the other. */
export async function runFail2ban(file: string, lines: number): Promise<Fail2banResult> {
  const skip = ensureInstalled();
  if (skip) return { available: false, reason: skip };
  const version = spawnSync('fail2ban-regex', ['-V'], { encoding: 'utf8' }).stdout.trim();
  const filters: Fail2banFilterResult[] = [];
  for (const f of ACCESS_LOG_FILTERS) {
    if (!existsSync(join(FILTER_DIR, `${f}.conf`))) continue;
    filters.push(await runFilter(file, lines, f));
  }
  return { available: true, version, file, lines, filters, not_run: [...ERROR_LOG_FILTERS] };
}
