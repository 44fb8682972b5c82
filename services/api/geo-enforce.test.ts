// Geo rules at a real nginx that has no geoip2 module and no country
// variable: a security_filter BLOCK rule on a client's country, then one on
// its autonomous system, set through the API; the enforcer pushes the ranges
// of exactly that country or AS from the bundled databases, and the Lua
// module refuses the client. Clients are public addresses presented through
// nginx's realip module (X-Forwarded-For from 127.0.0.1, as behind a trusted
// proxy): every request goes to loopback only.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../shared/config/load.js';
import { geoDatabase } from '../../shared/geo/index.js';
import { apiCaller } from '../../shared/testing/api-client.js';
import { nginxRequest, untilAnswers } from '../../shared/testing/nginx-client.js';
import { testConfig } from '../../shared/testing/config.js';
import { freePort, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';
import { startRuntime, type Runtime } from '../runtime.js';

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-geo-enforce-'));
const TOKEN = 'lw_geo-enforce-admin-token-0123456789abcdef';
const SECRET = 'geo-enforce-control-secret-0123';

// The test clients: Cloudflare's resolver (AU, AS13335) and Google's (US, AS15169), as the bundled databases have them.
const AU_CLIENT = '1.1.1.1';
const US_CLIENT = '8.8.8.8';

function config(nginx: TestNginx): Config {
  return testConfig('geoenf', {
    dataDir,
    tokens: { admin: TOKEN },
    env: { GEO_SECRET: SECRET },
    sections: {
      ingest: { udp: { enabled: false } },
      security: { scan_interval: '300ms' },
      nodes: [{ name: 'edge-1', url: nginx.controlUrl as string, secret_env: 'GEO_SECRET' }],
    },
  });
}

describe('geo rules at nginx without geoip2', () => {
  let nginx: TestNginx | undefined;
  let rt: Runtime | undefined;
  after(async () => {
    await rt?.stop();
    await nginx?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const api = apiCaller(() => rt?.apiPort, TOKEN);
  const edge = async (client: string, headers: Record<string, string> = {}): Promise<number> =>
    (await nginxRequest({ port: (nginx as TestNginx).port, path: '/', client, headers })).status;
  const rule = (id: string, geo: Array<Record<string, string | number>>): unknown => ({
    security_filter: { enabled: true, filter_rules: [{ id, match: { geo }, response_handling: { on_filtered: 'BLOCK', block_http_status: 451 } }] },
  });

  test('a BLOCK rule on the client\'s country, then on its AS, is refused at nginx; nginx\'s own country wins', async (t) => {
    const db = geoDatabase();
    assert.deepEqual([db.lookup(AU_CLIENT).country, db.lookup(AU_CLIENT).asn], ['AU', 13335]);
    assert.deepEqual([db.lookup(US_CLIENT).country, db.lookup(US_CLIENT).asn], ['US', 15169]);
    nginx = await startTestNginx({ controlPort: await freePort(), controlSecret: SECRET });
    rt = await startRuntime(config(nginx), new Set(['api', 'sink', 'enforcer']));
    assert.equal(await edge(AU_CLIENT), 200);

    // Country: the client's country is known to nginx only through the pushed ranges of AU.
    const put = await api('PUT', '/api/security/filter/property', rule('geo-au', [{ COUNTRY_CODE: 'AU' }]));
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const ms = await untilAnswers('country rule', () => edge(AU_CLIENT), 451);
    t.diagnostic(`COUNTRY_CODE AU rule → 451 at nginx in ${ms} ms`);
    assert.equal(await edge(US_CLIENT), 200, 'another country passes');
    // Where nginx sets $logwarden_country (the test config reads it from a header), its value wins.
    assert.equal(await edge(AU_CLIENT, { 'x-logwarden-test-country': 'NZ' }), 200);
    assert.equal(await edge(US_CLIENT, { 'x-logwarden-test-country': 'AU' }), 451);

    // ASN: AS15169 (Google) replaces the country rule.
    assert.equal((await api('PUT', '/api/security/filter/property', rule('as-google', [{ ASN: 15169 }]))).status, 200);
    await untilAnswers('ASN rule', () => edge(US_CLIENT), 451);
    assert.equal(await edge(AU_CLIENT), 200, 'another AS passes');
    assert.equal(await edge('2001:4860:4860::8888'), 451, 'the AS\'s IPv6 ranges too');
    // A country from nginx does not hide the AS.
    assert.equal(await edge(US_CLIENT, { 'x-logwarden-test-country': 'NZ' }), 451);

    // The largest country (tens of thousands of ranges of each family) reaches the node too, packed.
    assert.equal((await api('PUT', '/api/security/filter/property', rule('geo-us', [{ COUNTRY_CODE: 'US' }]))).status, 200);
    await untilAnswers('US rule', () => edge(US_CLIENT), 451);
    assert.equal(await edge('2001:4860:4860::8888'), 451, 'a US IPv6 client');
    assert.equal(await edge(AU_CLIENT), 200, 'another country passes');
  });
});
