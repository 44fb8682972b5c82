// CrowdSec as a peer of the detector replay benchmark: the Debian package's
// `crowdsec` in its one-shot file mode (`-dsn file://… -type nginx -no-api`,
// "time machine": buckets run on the log's own timestamps), on a config
// directory of the benchmark's own, so it never touches the system's
// database, ports or enabled items.
//
// Offline by construction: this machine reaches package registries only, not
// the CrowdSec hub nor its Central API. The Debian package ships a copy of the
// hub (/usr/share/crowdsec/hub: parsers, scenarios, collections and the data
// files they read), so the collections are enabled from that copy, the way the
// package's postinst does it (symlinks, vendor stripped); no Central API is
// configured. -no-api means the agent pushes its alerts to a Local API over
// HTTP, so one is started here on a free loopback port with its own SQLite
// file, and the alerts are read back from it with `cscli alerts list`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { freePort } from '../../shared/testing/nginx.js';

const OFFLINE_HUB = '/usr/share/crowdsec/hub';
const OFFLINE_DATA = '/usr/share/crowdsec/data';
const ETC = '/etc/crowdsec';
/** Written before installing: the Debian package's documented way to skip the Central API registration its postinst otherwise attempts. */
const CAPI_CREDENTIALS = join(ETC, 'online_api_credentials.yaml');

/**
 * What Debian 12's postinst enables on a first install (collections linux,
 * apache2, nginx and the whitelists parser), without apache2, which reads
 * Apache's logs only.
 */
const ROOTS: Array<[HubKind, string]> = [
  ['collections', 'crowdsecurity/linux'],
  ['collections', 'crowdsecurity/nginx'],
  ['parsers', 'crowdsecurity/whitelists'],
];

type HubKind = 'collections' | 'parsers' | 'scenarios' | 'postoverflows';
interface HubItem {
  path: string;
  version?: string;
  parsers?: string[];
  scenarios?: string[];
  postoverflows?: string[];
  collections?: string[];
}
type HubIndex = Record<HubKind, Record<string, HubItem>>;

export interface CrowdsecAlert {
  ip: string;
  scenario: string;
  events: number;
  /** When the scenario overflowed, on the log's clock (ISO 8601). */
  at: string;
  /** A decision (ban) came with the alert: the profile's remediation. */
  banned: boolean;
}

export interface CrowdsecRun {
  available: true;
  version: string;
  package_status: string;
  lines: number;
  /** The agent read the whole file before the time limit. */
  complete: boolean;
  /** Wall time of the agent process, start-up (grok library, hub) and shutdown (bucket flush) included. */
  seconds: number;
  lines_per_second: number;
  /** From "Starting processing data" to "Acquisition is finished", as the agent logged them. */
  processing_seconds: number | null;
  processing_lines_per_second: number | null;
  enabled: Record<HubKind, string[]>;
  missing_items: string[];
  /** Data files the shipped copy names after their source (`path_traversal.txt`) while the scenario reads its dest_file. */
  data_renamed: string[];
  data_missing: string[];
  /** Where the alerts were read: the Local API (cscli) or, failing that, the agent's own log. */
  alerts_source: 'cscli' | 'agent-log';
  alerts: CrowdsecAlert[];
  /** Error lines of the agent, deduplicated (first 200 characters). */
  errors: string[];
  notes: string[];
}

export type CrowdsecResult = CrowdsecRun | { available: false; reason: string };

const root = fileURLToPath(new URL('../../..', import.meta.url));

function packageStatus(): string {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status} ${Version}', 'crowdsec'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'not installed';
}

const binariesPresent = (): boolean => ['/usr/bin/crowdsec', '/usr/bin/cscli', join(OFFLINE_HUB, '.index.json')].every((p) => existsSync(p));

/** Installs the package if missing; null when it can be run, else why not. */
function ensureInstalled(notes: string[]): string | null {
  const isRoot = process.getuid?.() === 0;
  if (isRoot && (!existsSync(CAPI_CREDENTIALS) || statSync(CAPI_CREDENTIALS).size === 0)) {
    // An empty file is what a first install (or one whose registration failed) leaves; the postinst
    // then calls `cscli capi register`, i.e. api.crowdsec.net, which the benchmark must not reach.
    mkdirSync(ETC, { recursive: true });
    writeFileSync(CAPI_CREDENTIALS, '# no Central API: set by logwarden loadtest/peers/crowdsec.ts (offline machine; see README.Debian)\n');
    notes.push(`wrote a comment into ${CAPI_CREDENTIALS} (Debian's opt-out of the Central API registration)`);
  }
  const r = spawnSync('bash', [join(root, 'loadtest/peers/apt-install.sh'), 'crowdsec'], { encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] });
  if (r.status === 0) return null;
  const why = (r.stderr ?? '').trim().split('\n').filter(Boolean).slice(-2).join(' / ');
  if (binariesPresent()) {
    notes.push(`apt-install.sh failed (${why.slice(0, 200)}); the package is unpacked (${packageStatus()}), running its binaries anyway`);
    return null;
  }
  return `crowdsec not installed (${why || `apt-install.sh exited ${r.status}`}): peer skipped`;
}

function cscli(cfg: string, args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync('cscli', ['-c', cfg, ...args], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '').trim() };
}

/** Enables the items (recursively for collections) by symlinks into the offline hub, as the Debian postinst does. */
function enableItems(cfgDir: string, index: HubIndex): { enabled: Record<HubKind, string[]>; missing: string[]; files: string[] } {
  const enabled: Record<HubKind, Set<string>> = { collections: new Set(), parsers: new Set(), scenarios: new Set(), postoverflows: new Set() };
  const missing: string[] = [];
  const files: string[] = [];
  const visit = (kind: HubKind, name: string): void => {
    if (enabled[kind].has(name)) return;
    const item = index[kind]?.[name];
    const target = item ? join(OFFLINE_HUB, item.path) : '';
    if (!item || !existsSync(target)) {
      missing.push(`${kind}/${name}`);
      return;
    }
    enabled[kind].add(name);
    // Stages stay (parsers/s01-parse/x.yaml), the vendor directory goes: crowdsec 1.4 expects exactly that depth.
    const parts = item.path.split('/');
    const link = kind === 'parsers' || kind === 'postoverflows' ? join(cfgDir, kind, parts[1] as string, basename(item.path)) : join(cfgDir, kind, basename(item.path));
    mkdirSync(dirname(link), { recursive: true });
    if (!existsSync(link)) symlinkSync(target, link);
    files.push(target);
    if (kind === 'collections') {
      for (const k of ['parsers', 'scenarios', 'postoverflows', 'collections'] as const) for (const sub of item[k] ?? []) visit(k, sub);
    }
  };
  for (const [kind, name] of ROOTS) visit(kind, name);
  const sorted = (s: Set<string>): string[] => [...s].sort();
  return {
    enabled: { collections: sorted(enabled.collections), parsers: sorted(enabled.parsers), scenarios: sorted(enabled.scenarios), postoverflows: sorted(enabled.postoverflows) },
    missing,
    files,
  };
}

/**
 * Copies the data files the enabled items declare (`data: [{source_url, dest_file}]`)
 * from the package's copy: what `cscli` would download from source_url into dest_file.
 */
function installData(files: string[], dataDir: string): { renamed: string[]; missing: string[] } {
  const renamed: string[] = [];
  const missing: string[] = [];
  const seen = new Set<string>();
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(f, 'utf8'))) {
      const data = (doc.toJS() as { data?: Array<{ source_url?: string; dest_file?: string }> } | null)?.data ?? [];
      for (const d of data) {
        if (!d.dest_file || seen.has(d.dest_file)) continue;
        seen.add(d.dest_file);
        const direct = join(OFFLINE_DATA, d.dest_file);
        const bySource = d.source_url ? join(OFFLINE_DATA, basename(d.source_url)) : '';
        if (existsSync(direct)) copyFileSync(direct, join(dataDir, d.dest_file));
        else if (bySource && existsSync(bySource)) {
          copyFileSync(bySource, join(dataDir, d.dest_file));
          renamed.push(`${basename(d.source_url as string)} → ${d.dest_file}`);
        } else missing.push(d.dest_file);
      }
    }
  }
  return { renamed, missing };
}

function writeConfig(dir: string, port: number): string {
  const cfgDir = join(dir, 'etc');
  const dataDir = join(dir, 'data');
  mkdirSync(cfgDir, { recursive: true });
  mkdirSync(dataDir, { recursive: true });
  const shipped = existsSync(join(ETC, 'config.yaml')) ? (parse(readFileSync(join(ETC, 'config.yaml'), 'utf8')) as Record<string, Record<string, unknown>>) : {};
  const section = (k: string): Record<string, unknown> => ({ ...(shipped[k] ?? {}) });
  const common = { ...section('common'), daemonize: false, log_media: 'stdout', log_level: 'info', working_dir: dir };
  const configPaths = {
    ...section('config_paths'),
    config_dir: `${cfgDir}/`,
    data_dir: `${dataDir}/`,
    simulation_path: join(cfgDir, 'simulation.yaml'),
    hub_dir: `${OFFLINE_HUB}/`,
    index_path: join(OFFLINE_HUB, '.index.json'),
    notification_dir: join(cfgDir, 'notifications/'),
  };
  const service: Record<string, unknown> = { ...section('crowdsec_service'), acquisition_path: join(cfgDir, 'acquis.yaml') };
  delete service.acquisition_dir;
  const db = { ...section('db_config'), type: 'sqlite', db_path: join(dataDir, 'crowdsec.db'), use_wal: true };
  const api = section('api') as { client?: Record<string, unknown>; server?: Record<string, unknown> };
  const server: Record<string, unknown> = { ...(api.server ?? {}), listen_uri: `127.0.0.1:${port}`, profiles_path: join(cfgDir, 'profiles.yaml') };
  // No online_client: no Central API (nothing to reach); no console file either.
  delete server.online_client;
  delete server.console_path;
  const config = {
    ...shipped,
    common,
    config_paths: configPaths,
    crowdsec_service: service,
    db_config: db,
    api: { client: { ...(api.client ?? {}), credentials_path: join(cfgDir, 'local_api_credentials.yaml') }, server },
    // Off: no port of ours to clash with a crowdsec service running on the machine.
    prometheus: { ...section('prometheus'), enabled: false },
  };
  writeFileSync(join(cfgDir, 'config.yaml'), stringify(config));
  writeFileSync(join(cfgDir, 'acquis.yaml'), '');
  for (const f of ['profiles.yaml', 'simulation.yaml']) {
    if (existsSync(join(ETC, f))) copyFileSync(join(ETC, f), join(cfgDir, f));
  }
  if (!existsSync(join(cfgDir, 'simulation.yaml'))) writeFileSync(join(cfgDir, 'simulation.yaml'), 'simulation: off\nexclusions: []\n');
  if (!existsSync(join(cfgDir, 'profiles.yaml'))) {
    writeFileSync(join(cfgDir, 'profiles.yaml'), 'name: default_ip_remediation\nfilters:\n - Alert.Remediation == true && Alert.GetScope() == "Ip"\ndecisions:\n - type: ban\n   duration: 4h\non_success: break\n');
  }
  symlinkSync(join(ETC, 'patterns'), join(cfgDir, 'patterns'));
  return join(cfgDir, 'config.yaml');
}

/** Lines of a child's stdout+stderr, one callback each. */
function onLines(child: ChildProcess, cb: (line: string) => void): void {
  for (const s of [child.stdout, child.stderr]) {
    if (!s) continue;
    let rest = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const l of parts) cb(l);
    });
  }
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('close', (code: number | null) => resolve(code)));

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited(child);
  clearTimeout(t);
}

async function startLapi(cfg: string): Promise<ChildProcess> {
  const lapi = spawn('crowdsec', ['-c', cfg, '-no-cs', '-no-capi'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Local API not listening after 30 s: ${log.slice(-3).join(' | ')}`)), 30_000);
    onLines(lapi, (l) => {
      log.push(l);
      if (l.includes('Local API listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    lapi.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`Local API exited (${code}): ${log.slice(-3).join(' | ')}`));
    });
  });
  return lapi;
}

/** `Ip 203.0.113.7 performed 'crowdsecurity/http-probing' (12 events over 18s) at 2026-11-21 06:00:48 +0000 UTC` */
const PERFORMED = /Ip (\S+) performed '([^']+)' \((\d+) events over [^)]*\) at ([0-9-]+ [0-9:]+)/;

/** cscli prints Go's time format (`2026-11-21 06:00:48 +0000 UTC`); UTC only, as the agent writes it. */
function isoTime(s: string): string {
  const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)/.exec(s);
  return m ? `${m[1]}T${m[2]}.000Z` : s;
}

interface CscliAlert {
  scenario?: string;
  events_count?: number;
  start_at?: string;
  stop_at?: string;
  source?: { ip?: string; value?: string; scope?: string };
  decisions?: Array<{ type?: string }> | null;
}

/**
 * Runs the agent over `file` (`lines` lines, nginx combined format) with a
 * time limit; the Local API it reports to lives only for the run.
 */
export async function runCrowdsec(file: string, lines: number, opts: { dir: string; timeoutSeconds: number }): Promise<CrowdsecResult> {
  const notes: string[] = [];
  const skip = ensureInstalled(notes);
  if (skip) return { available: false, reason: skip };
  const version = (/version: (\S+)/.exec(spawnSync('crowdsec', ['-version'], { encoding: 'utf8' }).stderr ?? '')?.[1]) ?? 'unknown';
  const index = JSON.parse(readFileSync(join(OFFLINE_HUB, '.index.json'), 'utf8')) as HubIndex;
  const port = await freePort();
  const cfg = writeConfig(opts.dir, port);
  const cfgDir = dirname(cfg);
  const items = enableItems(cfgDir, index);
  if (items.enabled.scenarios.length === 0) return { available: false, reason: `no scenario could be enabled from the offline hub ${OFFLINE_HUB} (missing: ${items.missing.join(', ')}): peer skipped` };
  const data = installData(items.files, join(opts.dir, 'data'));
  const machine = cscli(cfg, ['--error', 'machines', 'add', 'logwarden-bench', '--auto', '--force', '-f', join(cfgDir, 'local_api_credentials.yaml')]);
  if (!machine.ok) return { available: false, reason: `cscli machines add failed: ${machine.err.slice(0, 300)}: peer skipped` };

  let lapi: ChildProcess;
  try {
    lapi = await startLapi(cfg);
  } catch (e) {
    return { available: false, reason: `${(e as Error).message}: peer skipped` };
  }
  try {
    const errors = new Set<string>();
    const fromLog: CrowdsecAlert[] = [];
    let tStart: bigint | null = null;
    let tAcq: bigint | null = null;
    const t0 = process.hrtime.bigint();
    const agent = spawn('crowdsec', ['-c', cfg, '-dsn', `file://${file}`, '-type', 'nginx', '-no-api'], { stdio: ['ignore', 'pipe', 'pipe'] });
    onLines(agent, (l) => {
      if (tStart === null && l.includes('Starting processing data')) tStart = process.hrtime.bigint();
      if (tAcq === null && l.includes('Acquisition is finished')) tAcq = process.hrtime.bigint();
      const m = PERFORMED.exec(l);
      if (m) fromLog.push({ ip: m[1] as string, scenario: m[2] as string, events: Number(m[3]), at: isoTime(m[4] as string), banned: false });
      // The dump of the expression library that follows a missing data file is kilobytes long: keep the message's head.
      else if (/level=(error|fatal)/.test(l)) errors.add((/msg="([^"]{0,200})/.exec(l)?.[1] ?? l).slice(0, 200));
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      agent.kill('SIGTERM');
      setTimeout(() => agent.kill('SIGKILL'), 10_000).unref();
    }, opts.timeoutSeconds * 1000);
    const code = await exited(agent);
    clearTimeout(timer);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (code !== 0 && !timedOut) notes.push(`the agent exited with code ${code}`);
    if (timedOut) notes.push(`stopped after the ${opts.timeoutSeconds} s limit: the rate is an upper bound (lines read unknown)`);
    const start = tStart as bigint | null;
    const acq = tAcq as bigint | null;
    const processing = start !== null && acq !== null ? Number(acq - start) / 1e9 : null;

    let alerts: CrowdsecAlert[] = [];
    let source: 'cscli' | 'agent-log' = 'cscli';
    const listed = cscli(cfg, ['alerts', 'list', '-o', 'json', '--limit', '0']);
    try {
      if (!listed.ok) throw new Error(listed.err);
      const raw = (JSON.parse(listed.out || 'null') as CscliAlert[] | null) ?? [];
      alerts = raw.map((a) => ({
        ip: a.source?.ip ?? a.source?.value ?? '',
        scenario: a.scenario ?? '',
        events: a.events_count ?? 0,
        at: isoTime(a.stop_at ?? a.start_at ?? ''),
        banned: (a.decisions ?? []).some((d) => d.type === 'ban'),
      }));
    } catch (e) {
      notes.push(`cscli alerts list failed (${String((e as Error).message).slice(0, 200)}); alerts from the agent's log (no decisions there)`);
      alerts = fromLog;
      source = 'agent-log';
    }
    if (source === 'cscli' && alerts.length !== fromLog.length) notes.push(`the agent logged ${fromLog.length} overflows, the Local API holds ${alerts.length} alerts`);
    // The enrichment plugins load even with geoip-enrich disabled; their MaxMind databases come from the hub's download, not the package.
    const geoip = [...errors].filter((e) => /GeoLite2-[A-Za-z]+\.mmdb/.test(e));
    if (geoip.length) notes.push(`GeoIP enrichers not loaded (no GeoLite2 databases offline; geoip-enrich is not enabled, so no scenario here needs them)`);
    const errs = [...errors].filter((e) => !/expr library/.test(e) && !geoip.includes(e));
    return {
      available: true,
      version,
      package_status: packageStatus(),
      lines,
      complete: !timedOut && code === 0,
      seconds,
      lines_per_second: Math.round(lines / seconds),
      processing_seconds: processing,
      processing_lines_per_second: processing ? Math.round(lines / processing) : null,
      enabled: items.enabled,
      missing_items: items.missing,
      data_renamed: data.renamed,
      data_missing: data.missing,
      alerts_source: source,
      alerts: alerts.sort((a, b) => a.at.localeCompare(b.at) || a.ip.localeCompare(b.ip)),
      errors: errs,
      notes,
    };
  } finally {
    await stop(lapi);
  }
}
