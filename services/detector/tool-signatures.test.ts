// The shipped user-agent signatures against the real tools: each case in
// signatures/tools.json (one per tool: the user agent it sends by default) must be
// matched by its signature, and each tool installed here is run against a real
// nginx whose access log comes back over syslog through the live parser, so a
// tool whose default user agent changed fails here rather than in production.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineDecoder } from '../../shared/access-log/decode.js';
import { loadConfig } from '../../shared/config/load.js';
import { startTestNginx } from '../../shared/testing/nginx.js';
import { requireTool } from '../../shared/testing/require-tool.js';
import { SHIPPED_SIGNATURES, SignatureMatcher } from './signatures.js';

interface ToolCase {
  tool: string;
  package: string;
  user_agent: string;
  signature: string;
}

const casesFile = fileURLToPath(new URL('../../../services/detector/signatures/tools.json', import.meta.url));
const cases = (JSON.parse(readFileSync(casesFile, 'utf8')) as { cases: ToolCase[] }).cases;
const matcher = new SignatureMatcher(SHIPPED_SIGNATURES);
const matchedIds = (ua: string): string[] => matcher.match(ua, '/', '').map((s) => s.id);

for (const c of cases) {
  test(`${c.tool}'s default user agent is caught by ${c.signature}`, () => {
    assert.ok(SHIPPED_SIGNATURES.some((s) => s.id === c.signature), `${c.signature} is a shipped signature`);
    assert.ok(matchedIds(c.user_agent).includes(c.signature), `"${c.user_agent}" matches ${c.signature} (matched: ${matchedIds(c.user_agent).join(', ') || 'none'})`);
  });
}

test('browsers, crawlers and everyday clients match no tool signature', () => {
  for (const ua of [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
    'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
    'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
    'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1; .NET CLR 1.1.4322)',
    'curl/8.5.0',
    'python-requests/2.31.0',
    'kube-probe/1.29',
  ]) {
    assert.deepEqual(matchedIds(ua), [], ua);
  }
});

// Every tool's run, bounded; each sends a handful of requests to the test nginx.
const WORDS = ['admin', 'backup', 'index.html', 'login', 'config'];
type Runner = (url: string, port: number, dir: string) => string[];
const RUNS: Record<string, Runner> = {
  ffuf: (url, _p, dir) => ['ffuf', '-u', `${url}/FUZZ`, '-w', join(dir, 'words'), '-s'],
  gobuster: (url, _p, dir) => ['gobuster', 'dir', '-u', url, '-w', join(dir, 'words'), '-q', '--no-error'],
  wfuzz: (url, _p, dir) => ['wfuzz', '-w', join(dir, 'words'), `${url}/FUZZ`],
  dirb: (url, _p, dir) => ['dirb', `${url}/`, join(dir, 'words'), '-S'],
  sqlmap: (url, _p, dir) => ['sqlmap', '-u', `${url}/?id=1`, '--batch', '--technique=B', '--level', '1', '--risk', '1', '--flush-session', '--output-dir', join(dir, 'sqlmap')],
  hydra: (_u, port) => ['hydra', '-l', 'admin', '-p', 'wrong', '-s', String(port), '127.0.0.1', 'http-get', '/login'],
  // Version detection names the port http, so the http-* scripts run on the test's port.
  nmap: (_u, port) => ['nmap', '-Pn', '-sV', '--version-intensity', '1', '-p', String(port), '--script', 'http-title', '127.0.0.1'],
  whatweb: (url) => ['whatweb', '--no-errors', url],
};

const onPath = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

for (const c of cases.filter((k) => RUNS[k.tool])) {
  const skip = requireTool(`${c.tool} is not installed (infra/tools/attack-tools.sh install)`, onPath(c.tool));
  test(`${c.tool}, run against a real nginx: every user agent it sends is caught by ${c.signature}`, { skip, timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), `lw-tool-${c.tool}-`));
    writeFileSync(join(dir, 'words'), `${WORDS.join('\n')}\n`);
    const sock = createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    const decoder = new LineDecoder(loadConfig({ text: 'log_level: silent', env: {} }));
    const agents = new Map<string, number>();
    sock.on('message', (msg) => {
      const r = decoder.decode(msg, 'udp', Date.now());
      if (r.ok) agents.set(r.record.user_agent, (agents.get(r.record.user_agent) ?? 0) + 1);
    });
    const nginx = await startTestNginx({ syslog: `127.0.0.1:${sock.address().port}` });
    try {
      const [bin, ...args] = (RUNS[c.tool] as Runner)(nginx.url, nginx.port, dir) as [string, ...string[]];
      await new Promise<void>((resolve) => {
        execFile(bin, args, { timeout: 90_000, cwd: dir, env: { ...process.env, HOME: dir } }, () => resolve());
      });
      // The last datagrams of the run arrive within moments of its end.
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      await nginx.stop();
      sock.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const sent = [...agents.keys()].filter((ua) => ua !== '' && ua !== '-');
    assert.ok(sent.length > 0, `${c.tool} reached nginx with a user agent (seen: ${JSON.stringify([...agents])})`);
    for (const ua of sent) assert.ok(matchedIds(ua).includes(c.signature), `${c.tool} sent "${ua}", which ${c.signature} does not match`);
  });
}
