// The `siem:` block at load: a secret written in the file is refused before
// anything else (naming the key, never echoing the value), then each target's
// URL and auth header value are read from where the file points, and the URL's
// scheme picks the transport (http(s): NDJSON POSTs; syslog+tcp: RFC 5424
// octet-counted; tcp: NDJSON lines).
import { isLoopback } from '../loopback.js';
import { readSecretRef, targetsWithoutInlineSecrets } from './secret-ref.js';
import type { ConfigIssue } from './errors.js';
import type { Config, SiemTarget } from './types.js';

/** Keys that would hold a secret in clear text; the file names where to read it instead. */
const INLINE_SECRET_KEYS = ['secret', 'token', 'password', 'header_value', 'authorization', 'api_key'];

const TRANSPORTS: Record<string, SiemTarget['transport']> = { 'http:': 'http', 'https:': 'http', 'syslog+tcp:': 'syslog', 'tcp:': 'tcp' };

/** Before schema validation: secrets written in the YAML, and URLs carrying credentials. */
export function inlineSiemSecretIssues(doc: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const { target, at } of targetsWithoutInlineSecrets(doc, 'siem', INLINE_SECRET_KEYS, 'set header_env (an environment variable) or header_file (a file) instead', issues)) {
    if (typeof target.url === 'string' && URL.canParse(target.url)) {
      const url = new URL(target.url);
      if (url.username !== '' || url.password !== '') issues.push({ path: `${at}.url`, reason: 'carries credentials (user:password@): put the URL in url_env or url_file, or the credentials in header_env' });
    }
  }
  return issues;
}

/** A target's URL checked for its transport; the reason it is refused, or undefined. */
function urlProblem(t: SiemTarget, url: URL | undefined): string | undefined {
  if (!url) return t.url === '' ? `${t.url_env || t.url_file} is unset or empty` : 'is not a URL';
  const transport = TRANSPORTS[url.protocol];
  if (!transport) return 'must be an http://, https://, syslog+tcp:// or tcp:// URL';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (transport !== 'http') {
    if (url.port === '' || host === '') return `must name a host and a port: ${url.protocol}//host:port`;
    if (url.pathname !== '' && url.pathname !== '/') return 'a TCP target has no path';
  } else if (url.protocol === 'http:' && !isLoopback(host) && host !== 'localhost') {
    return 'plain http is only for loopback receivers: use https';
  }
  return undefined;
}

/** After schema validation: URLs and header values resolved, transports chosen, every problem named. */
export function resolveSiem(c: Config, env: NodeJS.ProcessEnv): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const names = new Set<string>();
  c.siem.targets.forEach((t, i) => {
    const at = `siem.targets[${i}]`;
    if (names.has(t.name)) issues.push({ path: `${at}.name`, reason: `${t.name} names another target too` });
    names.add(t.name);
    const sources = [t.url, t.url_env, t.url_file].filter((s) => s !== '').length;
    if (sources !== 1) issues.push({ path: `${at}.url`, reason: 'set exactly one of url, url_env, url_file' });
    if (t.url === '') t.url = readSecretRef(env, t.url_env, t.url_file, `${at}.url_file`, issues).trim();
    t.transport = 'http';
    if (sources === 1) {
      const where = t.url_env !== '' ? `${at}.url_env` : t.url_file !== '' ? `${at}.url_file` : `${at}.url`;
      const url = URL.canParse(t.url) ? new URL(t.url) : undefined;
      const problem = urlProblem(t, url);
      if (problem) issues.push({ path: where, reason: problem });
      else t.transport = TRANSPORTS[(url as URL).protocol] as SiemTarget['transport'];
    }
    t.header_value = readSecretRef(env, t.header_env, t.header_file, `${at}.header_file`, issues).trim();
    if ((t.header_env !== '' || t.header_file !== '') && t.header_value === '' && !issues.some((x) => x.path === `${at}.header_file`)) {
      issues.push({ path: `${at}.header_env`, reason: `${t.header_env || t.header_file} is unset or empty` });
    }
    if (t.header_value !== '' && t.transport !== 'http') issues.push({ path: `${at}.header_env`, reason: 'an auth header is for http(s) targets only' });
    if (t.retry_initial_ms === 0 || t.retry_max_ms < t.retry_initial_ms) issues.push({ path: `${at}.retry_max`, reason: 'retry_initial must be above 0 and retry_max at least retry_initial' });
    if (t.timeout_ms === 0) issues.push({ path: `${at}.timeout`, reason: 'must be above 0' });
    if (t.queue_max_bytes < 1024) issues.push({ path: `${at}.queue_max`, reason: 'must be at least 1KiB' });
  });
  return issues;
}
