// The reload fallback, for sites that run nginx without logwarden's control
// endpoint: the rule set and the active blocks rendered to one JSON file that
// lua/logwarden/fallback.lua loads in init_by_lua, at start and on every
// reload; then `nginx -s reload`.
//
//   init_by_lua_block { require("logwarden.state").init({ rules_file = "/var/lib/logwarden/node-rules.json" }) }
//
// The file is written atomically (a temporary file in the same directory,
// fsync, rename), so nginx never reads half of one; the node refuses a file
// that does not validate and keeps what it had (logged at ERR). Changes take a
// reload to apply: seconds, not the control endpoint's milliseconds, and a
// reload starts new workers. Use it where the endpoint cannot run.
//
// CLI: node dist/services/enforcer/file-fallback.js <rules.json> <out.json> [blocks.json] [--reload "nginx -s reload"]
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { NodeRules } from '../../shared/control/node-rules.js';
import { LogwardenError } from '../../shared/errors.js';
import { NODE_ERRORS } from './errors.js';

export const FALLBACK_FORMAT = 'logwarden-node-rules/1';

export interface FallbackBlock {
  /** An address or a CIDR block. */
  ip: string;
  /** Epoch ms; null: permanent. */
  expiresAt: number | null;
  reason: string;
}

export interface FallbackFile {
  format: typeof FALLBACK_FORMAT;
  /** Unix seconds. */
  generated_at: number;
  rules: NodeRules;
  /** expires_at in unix seconds, 0 = permanent. */
  blocks: { ip: string; expires_at: number; reason: string }[];
}

export interface FileFallbackOptions {
  /** Where nginx's init_by_lua reads it (the `rules_file` option). */
  path: string;
  /** argv of the reload command; default `nginx -s reload`. */
  reloadCommand?: string[];
  /** Milliseconds before the reload command is killed; default 30 s. */
  reloadTimeoutMs?: number;
}

/** The file's content: expired blocks left out, reasons cut to what the node keeps. */
export function renderFallback(rules: NodeRules, blocks: Iterable<FallbackBlock>, now = Date.now()): FallbackFile {
  const out: FallbackFile['blocks'] = [];
  for (const b of blocks) {
    if (b.expiresAt !== null && b.expiresAt <= now) continue;
    out.push({ ip: b.ip, expires_at: b.expiresAt === null ? 0 : Math.ceil(b.expiresAt / 1000), reason: b.reason.slice(0, 200) });
  }
  return { format: FALLBACK_FORMAT, generated_at: Math.floor(now / 1000), rules, blocks: out };
}

/** Writes `content` to `path` atomically: same-directory temporary file, fsync, rename. */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o640);
  try {
    await fh.writeFile(content, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

function run(argv: string[], timeoutMs: number): Promise<string> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new LogwardenError(NODE_ERRORS.LW_NODE_RELOAD_FAILED, 'empty reload command'));
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new LogwardenError(NODE_ERRORS.LW_NODE_RELOAD_FAILED, `${argv.join(' ')} failed: ${err.message}\n${stderr}`, { cause: err }));
      else resolve(stdout + stderr);
    });
  });
}

export class FileFallback {
  constructor(private readonly opts: FileFallbackOptions) {}

  /** Renders, writes atomically, reloads nginx. Rejects when the reload command fails (the file stays written). */
  async apply(rules: NodeRules, blocks: Iterable<FallbackBlock>): Promise<FallbackFile> {
    const file = renderFallback(rules, blocks);
    await writeFileAtomic(this.opts.path, `${JSON.stringify(file)}\n`);
    await run(this.opts.reloadCommand ?? ['nginx', '-s', 'reload'], this.opts.reloadTimeoutMs ?? 30_000);
    return file;
  }
}

async function main(argv: string[]): Promise<void> {
  const reloadAt = argv.indexOf('--reload');
  const reload = reloadAt >= 0 ? (argv[reloadAt + 1] ?? '').split(/\s+/).filter(Boolean) : undefined;
  const positional = reloadAt >= 0 ? argv.filter((_, i) => i !== reloadAt && i !== reloadAt + 1) : argv;
  const [rulesPath, outPath, blocksPath] = positional;
  if (rulesPath === undefined || outPath === undefined) {
    throw new LogwardenError(NODE_ERRORS.LW_NODE_FALLBACK_USAGE, 'usage: file-fallback.js <rules.json> <out.json> [blocks.json: [{ip, expiresAt (ms|null), reason}]] [--reload "nginx -s reload"]');
  }
  const rules = JSON.parse(await readFile(rulesPath, 'utf8')) as NodeRules;
  const blocks = blocksPath === undefined ? [] : (JSON.parse(await readFile(blocksPath, 'utf8')) as FallbackBlock[]);
  const file = await new FileFallback({ path: outPath, ...(reload ? { reloadCommand: reload } : {}) }).apply(rules, blocks);
  process.stdout.write(`wrote ${outPath}: rule set version ${file.rules.version}, ${file.blocks.length} blocks; nginx reloaded\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof LogwardenError ? `${err.code}: ${err.message}` : String(err)}\n`);
    process.exit(1);
  });
}
