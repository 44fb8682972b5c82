// The management API over the network: HTTPS with a certificate the test makes
// (openssl), HSTS, a renewed certificate taken without a restart, and a config
// that would listen off loopback without TLS refused at start.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, loadConfig } from '../../shared/config/load.js';
import { testConfig } from '../../shared/testing/config.js';
import { requireTool } from '../../shared/testing/require-tool.js';
import { startRuntime, type Runtime } from '../runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'logwarden-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const skip = requireTool('openssl (apt-get install openssl) to make the test certificates', spawnSync('openssl', ['version']).status === 0);

/** A self-signed certificate for 127.0.0.1, as PEM files named `<name>.cert` and `<name>.key`. */
function makeCert(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.cert`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

const fingerprint = (pem: string): string => new X509Certificate(readFileSync(pem)).fingerprint256;

function served(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.end();
      resolve(fp);
    });
    s.once('error', reject);
  });
}

test('the API serves HTTPS with HSTS, takes a renewed certificate without a restart, and answers no plain HTTP', { skip, timeout: 60_000 }, async () => {
  const first = makeCert('first');
  const second = makeCert('second');
  const live = { cert: join(dir, 'api.cert'), key: join(dir, 'api.key') };
  copyFileSync(first.cert, live.cert);
  copyFileSync(first.key, live.key);
  const config = testConfig('tls', { dataDir: join(dir, 'data'), sections: { api: { tls: { cert_file: live.cert, key_file: live.key } } } });

  let rt: Runtime | undefined;
  try {
    rt = await startRuntime(config, new Set(['api'] as const));
    const port = rt.apiPort as number;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/healthz', ca: readFileSync(first.cert) }, resolve).once('error', reject);
    });
    res.resume();
    assert.equal(res.statusCode, 200, 'the certificate verifies against its own CA and the API answers');
    assert.equal(res.headers['strict-transport-security'], 'max-age=31536000');

    const plain = await new Promise<string>((resolve) => {
      http.get({ host: '127.0.0.1', port, path: '/healthz' }, (r) => resolve(`answered ${r.statusCode}`)).once('error', (err) => resolve(`refused: ${err.message}`));
    });
    assert.match(plain, /^refused/, 'plain HTTP gets no answer from the HTTPS port');

    assert.equal(await served(port), fingerprint(first.cert));
    copyFileSync(second.key, live.key);
    copyFileSync(second.cert, live.cert);
    const deadline = Date.now() + 15_000;
    while ((await served(port)) !== fingerprint(second.cert) && Date.now() < deadline) await sleep(200);
    assert.equal(await served(port), fingerprint(second.cert), 'the renewed certificate is served without a restart');
  } finally {
    await rt?.stop();
  }
});

test('listening off loopback without TLS is refused at start, unless allowed; half a TLS pair is refused', () => {
  const issue = (text: string): string[] => {
    try {
      loadConfig({ text, env: {} });
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.issues.map((i) => i.path);
    }
  };
  assert.deepEqual(issue('api: { host: 0.0.0.0 }'), ['api.host']);
  assert.deepEqual(issue('api: { host: "192.0.2.10" }'), ['api.host']);
  assert.deepEqual(issue('api: { host: "::" }'), ['api.host']);
  assert.deepEqual(issue('api: { host: 0.0.0.0, allow_insecure_remote: true }'), []);
  assert.deepEqual(issue('api: { host: "::1" }'), []);
  assert.deepEqual(issue('api: { host: localhost }'), []);
  assert.deepEqual(issue('api: { host: 0.0.0.0, enabled: false }'), []);
  assert.deepEqual(issue(`api: { tls: { cert_file: ${JSON.stringify(join(dir, 'nope.cert'))} } }`), ['api.tls.key_file', 'api.tls.cert_file']);
});
