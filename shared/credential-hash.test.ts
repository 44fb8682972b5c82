import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_ITERATIONS, hashCredential, isCredentialHash, parseCredentialHash, verifyCredential } from './credential-hash.js';

interface Vectors {
  valid: { secret: string; hash: string; wrong: string }[];
  malformed: string[];
}
const vectors = JSON.parse(readFileSync(fileURLToPath(new URL('../../shared/credential-hash.vectors.json', import.meta.url)), 'utf8')) as Vectors;

test('a hash verifies its secret and nothing else', () => {
  const h = hashCredential('admin:s3cret');
  assert.match(h, new RegExp(`^pbkdf2-sha1\\$${DEFAULT_ITERATIONS}\\$[A-Za-z0-9+/]{22}==\\$[A-Za-z0-9+/]{27}=$`));
  assert.equal(verifyCredential('admin:s3cret', h), true);
  assert.equal(verifyCredential('admin:s3creT', h), false);
  assert.equal(verifyCredential('', h), false);
  assert.doesNotMatch(h, /s3cret/, 'no clear text in the hash');
});

test('the salt is random: the same secret hashes differently', () => {
  const a = hashCredential('token');
  const b = hashCredential('token');
  assert.notEqual(a, b);
  assert.ok(verifyCredential('token', a) && verifyCredential('token', b));
});

test('the shared vectors verify (RFC 6070 included), their near misses do not', () => {
  assert.ok(vectors.valid.length >= 4);
  for (const v of vectors.valid) {
    assert.equal(verifyCredential(v.secret, v.hash), true, v.hash);
    assert.equal(verifyCredential(v.wrong, v.hash), false, v.wrong);
    const p = parseCredentialHash(v.hash);
    assert.ok(p);
    assert.equal(hashCredential(v.secret, p.iterations, p.salt), v.hash, 'hashing with the same salt gives the same string');
  }
});

test('malformed hashes are refused and never verify', () => {
  for (const m of vectors.malformed) {
    assert.equal(isCredentialHash(m), false, m);
    assert.equal(verifyCredential('admin:correct horse battery staple', m), false, m);
  }
  assert.throws(() => hashCredential('x', 0), RangeError);
  assert.throws(() => hashCredential('x', 100_001), RangeError);
});
