// API bearer tokens: their format, their hash, the token file, and the table
// that verifies them. Shared by the API (which verifies), the runtime (which
// makes the first admin token) and the CLI (which makes tokens for operators).
//
// Tokens are random 256-bit strings, so a plain SHA-256 is enough to keep them
// safe at rest (a slow KDF defends guessable passwords, which these are not);
// only the hash is ever stored or configured. Comparison is constant-time over
// the hashes.
//
// Roles: `analyst` reads; `admin` reads and changes.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type Role = 'admin' | 'analyst';

export interface TokenEntry {
  name: string;
  role: Role;
  /** "sha256:<hex>" */
  hash: string;
}

export interface Principal {
  name: string;
  role: Role;
}

export function hashToken(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

export function newToken(): string {
  return `lw_${randomBytes(32).toString('base64url')}`;
}

export class TokenTable {
  private readonly entries: Array<TokenEntry & { digest: Buffer }>;

  constructor(entries: readonly TokenEntry[]) {
    this.entries = entries.map((e) => ({ ...e, digest: Buffer.from(e.hash.slice('sha256:'.length), 'hex') }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The principal a bearer token stands for, or undefined. Looks at every entry: the time does not tell which matched. */
  verify(token: string): Principal | undefined {
    const digest = createHash('sha256').update(token, 'utf8').digest();
    let found: Principal | undefined;
    for (const e of this.entries) {
      if (e.digest.length === digest.length && timingSafeEqual(e.digest, digest) && !found) found = { name: e.name, role: e.role };
    }
    return found;
  }
}

/** Tokens of the token file (created by ensureAdminToken); [] when the file does not exist. */
export function readTokenFile(path: string): TokenEntry[] {
  if (!existsSync(path)) return [];
  const doc = JSON.parse(readFileSync(path, 'utf8')) as { tokens?: unknown };
  const list = Array.isArray(doc.tokens) ? doc.tokens : [];
  return list.filter(
    (t): t is TokenEntry =>
      typeof t === 'object' && t !== null && typeof (t as TokenEntry).name === 'string' &&
      ((t as TokenEntry).role === 'admin' || (t as TokenEntry).role === 'analyst') && /^sha256:[0-9a-f]{64}$/.test(String((t as TokenEntry).hash)),
  );
}

/**
 * Embedded mode's first start: with no token configured anywhere, generates an
 * admin token, stores its hash in the token file (mode 0600) and returns the
 * token, which the caller prints once. Later starts return undefined.
 */
export function ensureAdminToken(tokenFile: string, configured: readonly TokenEntry[]): string | undefined {
  if (configured.length > 0 || readTokenFile(tokenFile).length > 0) return undefined;
  const token = newToken();
  mkdirSync(dirname(tokenFile), { recursive: true, mode: 0o700 });
  const tmp = `${tokenFile}.${randomUUID()}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ tokens: [{ name: 'admin', role: 'admin', hash: hashToken(token), created_at: new Date().toISOString() }] }, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, tokenFile);
  return token;
}
