// Salted, iterated hashes of protected-route credentials (basic: "user:password",
// bearer: the token), so a NodeRules document, a shared dict or a fallback file
// never holds one in clear text. The Lua module (lua/logwarden/credential.lua)
// verifies the same strings with what Debian's nginx-lua offers (ngx.hmac_sha1,
// ngx.decode_base64; lua-resty-string is not installed there):
//
//   pbkdf2-sha1$<iterations>$<salt, base64>$<derived key, base64>
//
// PBKDF2-HMAC-SHA1 (RFC 8018) with one output block (20 bytes) and a 16-byte
// random salt. One block because a second would double the node's work and
// add nothing an attacker has to compute.
//
// The iteration count is a compromise forced by where the check runs: inside
// nginx's event loop, where a failed check (a wrong password, which no cache
// can absorb) stalls every other request of that worker for its duration.
// Measured through the test nginx (Debian nginx 1.22, LuaJIT 2.1, one
// ngx.hmac_sha1 call per iteration, a shared 2-core machine): 2.3-3.4 µs per
// iteration, so 128 iterations cost a failed check 0.3-0.45 ms, "well under a
// millisecond" (256 was 0.4-0.8 ms, 1000 was 3.4 ms). Successful checks are
// cached per worker (resty.lrucache), so a legitimate client pays it once.
// 128 iterations slow an offline guess 128x against a plain salted hash:
// enough for the random tokens and generated passwords the API should hand
// out, no substitute for a strong password. Verification accepts
// 1..MAX_ITERATIONS so the count can be raised later (e.g. with an FFI PBKDF2
// from libcrypto on the node) without invalidating stored hashes.
import { pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export const CREDENTIAL_HASH_SCHEME = 'pbkdf2-sha1';
export const DEFAULT_ITERATIONS = 128;
/** Both sides refuse more: a crafted hash must not buy seconds of CPU per request. */
export const MAX_ITERATIONS = 100_000;
const SALT_BYTES = 16;
const KEY_BYTES = 20;

const FORMAT = /^pbkdf2-sha1\$([1-9][0-9]{0,5})\$([A-Za-z0-9+/]{11,88}={0,2})\$([A-Za-z0-9+/]{27}=)$/;

export function hashCredential(secret: string, iterations = DEFAULT_ITERATIONS, salt: Buffer = randomBytes(SALT_BYTES)): string {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new RangeError(`iterations must be an integer from 1 to ${MAX_ITERATIONS}`);
  }
  if (salt.length < 8 || salt.length > 64) throw new RangeError('salt must be 8 to 64 bytes');
  const key = pbkdf2Sync(Buffer.from(secret, 'utf8'), salt, iterations, KEY_BYTES, 'sha1');
  return `${CREDENTIAL_HASH_SCHEME}$${iterations}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Parsed parts, or null when `hash` is not in the format above. */
export function parseCredentialHash(hash: string): { iterations: number; salt: Buffer; key: Buffer } | null {
  const m = FORMAT.exec(hash);
  if (!m) return null;
  const iterations = Number(m[1]);
  if (iterations > MAX_ITERATIONS) return null;
  const salt = Buffer.from(m[2] as string, 'base64');
  const key = Buffer.from(m[3] as string, 'base64');
  // Canonical base64 only, so the Lua side (ngx.decode_base64) reads the same bytes.
  if (salt.length < 8 || salt.length > 64 || salt.toString('base64') !== m[2] || key.length !== KEY_BYTES) return null;
  return { iterations, salt, key };
}

export function isCredentialHash(hash: string): boolean {
  return parseCredentialHash(hash) !== null;
}

/** Constant time in the secret (timingSafeEqual on equal-length digests); false for a malformed hash. */
export function verifyCredential(secret: string, hash: string): boolean {
  const p = parseCredentialHash(hash);
  if (p === null) return false;
  const key = pbkdf2Sync(Buffer.from(secret, 'utf8'), p.salt, p.iterations, KEY_BYTES, 'sha1');
  return timingSafeEqual(key, p.key);
}
