// The `notifications:` block at load: a secret written in the file is refused
// before anything else (naming the key, never echoing the value), then each
// target's URL and signing secret are read from where the file points, and its
// rate limit ("20/1m") is split into a count and an interval.
import { isLoopback } from '../loopback.js';
import { parseDuration } from './duration.js';
import { readSecretRef, targetsWithoutInlineSecrets } from './secret-ref.js';
import type { ConfigIssue } from './errors.js';
import type { Config } from './types.js';

/** Keys that would hold a secret in clear text; the file names where to read it instead. */
const INLINE_SECRET_KEYS = ['secret', 'signing_secret', 'hmac_secret', 'password', 'token'];

/** Before schema validation: secrets written in the YAML, and URLs carrying credentials. */
export function inlineSecretIssues(doc: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const { target, at } of targetsWithoutInlineSecrets(doc, 'notifications', INLINE_SECRET_KEYS, 'set secret_env (an environment variable) or secret_file (a file) instead', issues)) {
    if (typeof target.url === 'string' && target.url !== '') {
      const url = URL.canParse(target.url) ? new URL(target.url) : undefined;
      if (url && (url.username !== '' || url.password !== '')) {
        issues.push({ path: `${at}.url`, reason: 'carries credentials (user:password@): put the URL in url_env or url_file' });
      } else if (target.format === 'slack') {
        // Slack-compatible webhook URLs (Slack, Mattermost, Rocket.Chat) are themselves the secret.
        issues.push({ path: `${at}.url`, reason: 'a Slack-compatible webhook URL is a secret: put it in url_env or url_file' });
      }
    }
  }
  return issues;
}

/** A webhook's URL or signing secret, from the environment or a file (surrounding whitespace never counts). */
function readRef(env: NodeJS.ProcessEnv, envName: string, file: string, path: string, issues: ConfigIssue[]): string {
  return readSecretRef(env, envName, file, path, issues).trim();
}

/** After schema validation: URLs and secrets resolved, rate limits split, every problem named. */
export function resolveNotifications(c: Config, env: NodeJS.ProcessEnv): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const names = new Set<string>();
  c.notifications.targets.forEach((t, i) => {
    const at = `notifications.targets[${i}]`;
    if (names.has(t.name)) issues.push({ path: `${at}.name`, reason: `${t.name} names another target too` });
    names.add(t.name);
    const sources = [t.url, t.url_env, t.url_file].filter((s) => s !== '').length;
    if (sources !== 1) issues.push({ path: `${at}.url`, reason: 'set exactly one of url, url_env, url_file' });
    if (t.url === '') t.url = readRef(env, t.url_env, t.url_file, `${at}.url_file`, issues);
    if (sources === 1) {
      const where = t.url_env !== '' ? `${at}.url_env` : t.url_file !== '' ? `${at}.url_file` : `${at}.url`;
      const url = URL.canParse(t.url) ? new URL(t.url) : undefined;
      if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
        issues.push({ path: where, reason: t.url === '' ? `${t.url_env || t.url_file} is unset or empty` : 'is not an http(s) URL' });
      } else if (url.protocol === 'http:' && !isLoopback(url.hostname.replace(/^\[|\]$/g, '')) && url.hostname !== 'localhost') {
        issues.push({ path: where, reason: 'plain http is only for loopback receivers: use https' });
      }
    }
    t.secret = readRef(env, t.secret_env, t.secret_file, `${at}.secret_file`, issues);
    // A JSON receiver has only the signature to trust a notification by; a Slack one checks its URL.
    if (t.secret === '' && t.format === 'json') {
      issues.push({ path: `${at}.secret_env`, reason: `${t.secret_env || t.secret_file || 'the signing secret'} is unset: a json target needs a signing secret (secret_env or secret_file)` });
    } else if (t.secret !== '' && t.secret.length < 16) {
      issues.push({ path: `${at}.secret_env`, reason: 'the signing secret is shorter than 16 characters' });
    }
    const [count, per] = t.rate_limit.split('/') as [string, string];
    t.rate_limit_count = Number(count);
    t.rate_limit_interval_ms = parseDuration(per) ?? 0;
    if (t.rate_limit_interval_ms === 0 || !Number.isSafeInteger(t.rate_limit_count)) issues.push({ path: `${at}.rate_limit`, reason: 'must be <messages>/<interval>, such as 20/1m' });
    if (t.retry_initial_ms === 0 || t.retry_max_ms < t.retry_initial_ms) issues.push({ path: `${at}.retry_max`, reason: 'retry_initial must be above 0 and retry_max at least retry_initial' });
    if (t.timeout_ms === 0) issues.push({ path: `${at}.timeout`, reason: 'must be above 0' });
    if (t.kinds.includes('event') === false && (t.event_types.length > 0 || t.detectors.length > 0)) {
      issues.push({ path: `${at}.event_types`, reason: 'event_types and detectors filter events: add event to kinds' });
    }
  });
  return issues;
}
