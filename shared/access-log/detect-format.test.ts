import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/load.js';
import { LineDecoder } from './decode.js';
import { detectFormat, MAIN_FORMAT, resolveFileFormats } from './detect-format.js';
import { forEachLine, peekLogStream } from './line-reader.js';

const config = loadConfig({ text: 'log_level: silent', env: {} });

function combined(i: number): string {
  const s = String(i % 60).padStart(2, '0');
  return `198.51.100.${i % 250} - - [01/Dec/2026:10:00:${s} +0000] "GET /p/${i} HTTP/1.1" ${i % 7 === 0 ? 404 : 200} 512 "-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"`;
}
function json(i: number): string {
  return JSON.stringify({ ts: `${1_764_583_200 + i}.000`, client_ip: `198.51.100.${i % 250}`, method: 'GET', host: 'shop.example', uri: `/p/${i}`, status: '200', bytes: '512', user_agent: 'Mozilla/5.0' });
}
const lines = (n: number, f: (i: number) => string, wrap = (l: string): string => l): Buffer[] => Array.from({ length: n }, (_, i) => Buffer.from(wrap(f(i))));

test('each format nginx writes, and each way a relay wraps it, is told from a sample', () => {
  const cases: Array<[string, Buffer[], string, string]> = [
    ['the shipped JSON', lines(50, json), 'json', 'none'],
    ['combined', lines(50, combined), 'combined', 'none'],
    ["nginx's main", lines(50, (i) => `${combined(i)} "-"`), MAIN_FORMAT, 'none'],
    ['combined behind <PRI> syslog headers (a relay storing datagrams)', lines(50, combined, (l) => `<190>Dec  1 10:00:00 web1 nginx: ${l}`), 'combined', 'none'],
    ["combined in rsyslog's traditional file format", lines(50, combined, (l) => `Dec  1 10:00:00 web1 nginx: ${l}`), 'combined', 'syslog-file'],
    ['JSON in an ISO-stamped relay file', lines(50, json, (l) => `2026-12-01T10:00:00.123+00:00 web1 nginx[811]: ${l}`), 'json', 'syslog-file'],
  ];
  for (const [what, sample, format, wrapper] of cases) {
    const d = detectFormat(config, sample);
    assert.ok(d, what);
    assert.equal(d.format, format, what);
    assert.equal(d.fileWrapper, wrapper, what);
    assert.equal(d.parsed, sample.length, `${what}: every sampled line parses`);
  }
});

test('what no format reads is reported as such, not guessed', () => {
  const d = detectFormat(config, lines(20, (i) => `hello world ${i}`));
  assert.equal(d?.parsed, 0);
  assert.equal(detectFormat(config, []), undefined);
});

test('a detected wrapper reads every line of the file the way the sample did', () => {
  const decoder = new LineDecoder(config, { format: 'combined', fileWrapper: 'syslog-file' });
  const r = decoder.decode(Buffer.from(`Dec  1 10:00:00 web1 nginx: ${combined(3)}`), 'file', 0);
  assert.ok(r.ok);
  assert.equal(r.record.client_ip, '198.51.100.3');
  assert.equal(r.record.path, '/p/3');
  assert.equal(r.record.node, 'web1');
});

test('peeking at a log gives its first lines and then the whole log again, for files and a stream read once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-peek-'));
  try {
    const file = join(dir, 'access.log');
    const all = Array.from({ length: 5000 }, (_, i) => combined(i));
    writeFileSync(file, `${all.join('\n')}\n`);
    const { sample, stream } = await peekLogStream(file, 200);
    assert.equal(sample.length, 200);
    assert.equal(sample[199]?.toString(), all[199]);
    const seen: string[] = [];
    const n = await forEachLine(stream, 1 << 16, (l) => void seen.push(l.toString()), () => assert.fail('no long line'));
    assert.equal(n, 5000);
    assert.deepEqual(seen, all);
    const { formats, stdin } = await resolveFileFormats(config, [file]);
    assert.equal(stdin, undefined);
    assert.deepEqual(formats, [{ file, format: 'combined', fileWrapper: 'none', how: 'detected', parsed: 200, sampled: 200 }]);
    const given = await resolveFileFormats(config, [file], 'json');
    assert.equal(given.formats[0]?.how, 'given');
    assert.equal(given.formats[0]?.format, 'json');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
