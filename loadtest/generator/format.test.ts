// The lines must be what nginx writes: the shipped JSON log_format (keys in
// its order, every value a string, nginx's JSON escaping), the same behind
// nginx's RFC 3164 syslog header, and the predefined `combined` format with
// nginx's \xHH escaping that CrowdSec and fail2ban parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { JSON_FIELDS, LineFormatter, escapeDefault, escapeJson, syslogTime, timeLocal, formatSeconds } from './format.js';
import { emptyRequest, generateTraffic, type GeneratedRequest } from './traffic.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function request(over: Partial<GeneratedRequest> = {}): GeneratedRequest {
  return {
    ...emptyRequest(),
    ts: Date.UTC(2026, 10, 21, 6, 0, 44, 7),
    node: 'edge-fra-1',
    deployment: 'shop',
    client_ip: '203.0.113.9',
    method: 'GET',
    host: 'shop.example.com',
    uri: '/products/amber-boots?ref=home',
    protocol: 'HTTP/2.0',
    status: 200,
    bytes: 5120,
    request_time: 0.012,
    upstream_time: 0.01,
    user_agent: 'Mozilla/5.0',
    referer: 'https://shop.example.com/',
    request_id: '0123456789abcdef0123456789abcdef',
    ...over,
  };
}

test('nginx escaping, byte for byte', () => {
  // escape=json: quote and backslash get a backslash, control bytes a short or \u00XX form, the rest passes.
  assert.equal(escapeJson('a"b\\c'), 'a\\"b\\\\c');
  assert.equal(escapeJson('\n\r\t\b\f'), '\\n\\r\\t\\b\\f');
  assert.equal(escapeJson('\u0001\u001f'), '\\u0001\\u001F');
  assert.equal(escapeJson('é\u007fストア'), 'é\u007fストア');
  // default: every byte of '"', '\', controls, DEL and anything non-ASCII (on its UTF-8 bytes) as \xHH.
  assert.equal(escapeDefault('a"b\\c'), 'a\\x22b\\x5Cc');
  assert.equal(escapeDefault('\n\u007f'), '\\x0A\\x7F');
  assert.equal(escapeDefault('é'), '\\xC3\\xA9');
  assert.equal(escapeDefault('ス'), '\\xE3\\x82\\xB9');
  assert.equal(escapeDefault('😀'), '\\xF0\\x9F\\x98\\x80');
  assert.equal(escapeDefault("plain ascii: <>'&%{}|~"), "plain ascii: <>'&%{}|~");
});

test('time fields: $msec, $time_local, the syslog stamp (space-padded day)', () => {
  const ts = Date.UTC(2026, 10, 21, 6, 0, 44, 7);
  assert.equal(formatSeconds(ts), '1795240844.007');
  assert.equal(formatSeconds(12), '0.012');
  assert.equal(timeLocal(ts), '21/Nov/2026:06:00:44 +0000');
  assert.equal(syslogTime(ts), 'Nov 21 06:00:44');
  assert.equal(syslogTime(Date.UTC(2026, 0, 1, 23, 5, 9)), 'Jan  1 23:05:09');
});

test('json: the keys of the shipped log_format in its order, every value a string', () => {
  const conf = readFileSync(`${root}lua/conf/logwarden-http.conf`, 'utf8');
  const format = /log_format logwarden_json escape=json([\s\S]*?);/.exec(conf)?.[1] ?? '';
  const keys = [...format.matchAll(/\\?"(\w+)\\?":/g)].map((m) => m[1]);
  assert.deepEqual(keys, [...JSON_FIELDS]);

  const line = new LineFormatter('json').line(request({ upstream_time: null, auth_user: 'alice' }));
  assert.equal(
    line,
    '{"ts":"1795240844.007","node":"edge-fra-1","deployment":"shop","client_ip":"203.0.113.9","xff":"","method":"GET",' +
      '"host":"shop.example.com","uri":"/products/amber-boots?ref=home","status":"200","bytes":"5120","request_time":"0.012",' +
      '"upstream_time":"","user_agent":"Mozilla/5.0","referer":"https://shop.example.com/","country":"","auth_user":"alice",' +
      '"request_id":"0123456789abcdef0123456789abcdef","blocked_by":"","filter_alert":"","logwarden_challenge":""}',
  );
  const parsed = JSON.parse(line) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed), [...JSON_FIELDS]);
  for (const v of Object.values(parsed)) assert.equal(typeof v, 'string');
});

test('hostile values: every format escapes them as nginx does, and JSON gives them back intact', () => {
  const nasty = request({
    uri: '/search?q="><script>\\x</script>&t=\u0001',
    user_agent: 'Ünïcode "quoted" \\ back\nslash ストア/1.0 😀 \u007f',
    referer: '',
    auth_user: '',
    upstream_time: 1.5,
  });
  const json = new LineFormatter('json').line(nasty);
  const obj = JSON.parse(json) as Record<string, string>;
  assert.equal(obj.uri, nasty.uri);
  assert.equal(obj.user_agent, nasty.user_agent);
  assert.equal(obj.upstream_time, '1.500');
  assert.ok(json.includes(`"user_agent":"${escapeJson(nasty.user_agent)}"`));
  assert.ok(json.includes('\\u0001'), 'a control byte as \\u00XX');

  const combined = new LineFormatter('combined').line(nasty);
  assert.equal(
    combined,
    '203.0.113.9 - - [21/Nov/2026:06:00:44 +0000] "GET /search?q=\\x22><script>\\x5Cx</script>&t=\\x01 HTTP/2.0" 200 5120 "-" ' +
      '"\\xC3\\x9Cn\\xC3\\xAFcode \\x22quoted\\x22 \\x5C back\\x0Aslash \\xE3\\x82\\xB9\\xE3\\x83\\x88\\xE3\\x82\\xA2/1.0 \\xF0\\x9F\\x98\\x80 \\x7F"',
  );
});

// One generated corpus (attackers of every kind included) through every format.
const { events } = generateTraffic({ seed: 7, lines: 30_000, startMs: Date.UTC(2026, 10, 21, 6) });
const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec';

/** Undoes nginx's default escaping: \xHH back to bytes, then UTF-8. */
function unescapeDefault(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === 'x') {
      bytes.push(Number.parseInt(s.slice(i + 2, i + 4), 16));
      i += 3;
    } else bytes.push(s.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

test('combined: every line matches nginx\'s format, printable ASCII only, and unescapes to the request', () => {
  const fmt = new LineFormatter('combined');
  const q = '"((?:[^"\\\\]|\\\\x[0-9A-F]{2})*)"';
  const COMBINED = new RegExp(`^(\\S+) - (\\S+) \\[(\\d{2}/(?:${MONTHS})/\\d{4}:\\d{2}:\\d{2}:\\d{2} \\+0000)\\] ${q} (\\d{3}) (\\d+) ${q} ${q}$`);
  let escaped = 0;
  for (const r of events) {
    const line = fmt.line(r);
    const m = COMBINED.exec(line);
    assert.ok(m !== null, line);
    assert.match(line, /^[\x20-\x7e]+$/);
    const [, ip, user, local, req, status, bytes, referer, ua] = m as unknown as string[];
    assert.equal(ip, r.client_ip);
    assert.equal(user, r.auth_user === '' ? '-' : escapeDefault(r.auth_user));
    assert.equal(local, timeLocal(r.ts));
    assert.equal(unescapeDefault(req as string), `${r.method} ${r.uri} ${r.protocol}`);
    assert.equal(Number(status), r.status);
    assert.equal(Number(bytes), r.bytes);
    assert.equal(referer === '-' ? '' : unescapeDefault(referer as string), r.referer);
    assert.equal(ua === '-' ? '' : unescapeDefault(ua as string), r.user_agent);
    if (line.includes('\\x')) escaped++;
  }
  assert.ok(escaped > 0, 'the corpus exercises the escaping (attack payloads, non-ASCII user agents)');
});

test('syslog-json: nginx\'s RFC 3164 header, then a line JSON.parse reads back to the request', () => {
  const fmt = new LineFormatter('syslog-json');
  const SYSLOG = new RegExp(`^<190>((?:${MONTHS}) [ 123]\\d \\d{2}:\\d{2}:\\d{2}) (\\S+) nginx: (\\{.*\\})$`);
  for (const r of events) {
    const line = fmt.line(r);
    const m = SYSLOG.exec(line);
    assert.ok(m !== null, line);
    assert.equal(m[1], syslogTime(r.ts));
    assert.equal(m[2], r.node);
    const obj = JSON.parse(m[3] as string) as Record<string, string>;
    assert.equal(obj.ts, formatSeconds(r.ts));
    assert.equal(obj.client_ip, r.client_ip);
    assert.equal(obj.uri, r.uri);
    assert.equal(obj.user_agent, r.user_agent);
    assert.equal(obj.status, String(r.status));
    assert.equal(obj.upstream_time, r.upstream_time === null ? '' : formatSeconds(r.upstream_time * 1000));
  }
});

/** The formats spelled out with the string escapers: an independent reference for the byte writers and their fast path. */
function reference(r: GeneratedRequest, format: 'json' | 'combined'): string {
  if (format === 'combined') {
    const dash = (v: string): string => (v === '' ? '-' : escapeDefault(v));
    return `${r.client_ip} - ${dash(r.auth_user)} [${timeLocal(r.ts)}] "${escapeDefault(`${r.method} ${r.uri} ${r.protocol}`)}" ${r.status} ${r.bytes} "${dash(r.referer)}" "${dash(r.user_agent)}"`;
  }
  const values: Record<string, string> = {
    ts: formatSeconds(r.ts), node: r.node, deployment: r.deployment, client_ip: r.client_ip, xff: r.xff, method: r.method,
    host: r.host, uri: r.uri, status: String(r.status), bytes: String(r.bytes), request_time: formatSeconds(r.request_time * 1000),
    upstream_time: r.upstream_time === null ? '' : formatSeconds(r.upstream_time * 1000), user_agent: r.user_agent, referer: r.referer,
    country: r.country, auth_user: r.auth_user, request_id: r.request_id, blocked_by: r.blocked_by, filter_alert: r.filter_alert,
  };
  return `{${JSON_FIELDS.map((k) => `"${k}":"${escapeJson(values[k] ?? '')}"`).join(',')}}`;
}

test('every corpus line equals the reference formatting (plain lines and lines that need escaping alike)', () => {
  const json = new LineFormatter('json');
  const syslog = new LineFormatter('syslog-json');
  const combined = new LineFormatter('combined');
  let needsEscaping = 0;
  const odd = [
    request({ uri: '/x?q="quoted"' }),
    request({ user_agent: 'back\\slash' }),
    request({ referer: 'https://example.com/é' }),
    request({ auth_user: 'a"b', xff: '10.0.0.1, "x"' }),
  ];
  for (const r of [...events, ...odd]) {
    const ref = reference(r, 'json');
    assert.equal(json.line(r), ref);
    assert.equal(syslog.line(r), `<190>${syslogTime(r.ts)} ${r.node} nginx: ${ref}`);
    assert.equal(combined.line(r), reference(r, 'combined'));
    // A backslash (an escape) or a non-ASCII character: the byte writer's path, not the plain one.
    if (/[\\\u0080-\uffff]/.test(ref)) needsEscaping++;
  }
  assert.ok(needsEscaping > odd.length + 50, `${needsEscaping} lines took the escaping path`);
});

test('writeLine into a shared buffer gives the same bytes as line()', () => {
  for (const f of ['json', 'syslog-json', 'combined'] as const) {
    const a = new LineFormatter(f);
    const b = new LineFormatter(f);
    const buf = Buffer.alloc(4 << 20);
    let off = 0;
    const lines: string[] = [];
    for (const r of events.slice(0, 2000)) {
      lines.push(a.line(r));
      off = b.writeLine(r, buf, off);
      buf[off++] = 10;
    }
    assert.equal(buf.toString('utf8', 0, off), `${lines.join('\n')}\n`);
  }
});
