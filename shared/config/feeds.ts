// Checks of blocklist feeds (config `feeds:`, and the API's feed bodies) that
// the JSON Schema cannot express: unique names, a source that is a file or an
// http(s) URL, a block duration that outlives a missed refresh.
import type { ConfigIssue } from './errors.js';
import type { FeedConfig } from './types.js';

/** Problems of one feed, each naming its key under `base` ("feeds[0]"). */
export function feedProblems(f: Pick<FeedConfig, 'source' | 'refresh_ms' | 'block_duration_ms' | 'timeout_ms'>, base: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(f.source)) {
    let url: URL | undefined;
    try {
      url = new URL(f.source);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) issues.push({ path: `${base}.source`, reason: `must be a file path or an http:// or https:// URL: ${JSON.stringify(f.source)}` });
    else if (url.username !== '' || url.password !== '') issues.push({ path: `${base}.source`, reason: 'must not hold credentials (they would be shown and logged with the URL)' });
  }
  if (f.refresh_ms < 10_000) issues.push({ path: `${base}.refresh`, reason: 'must be at least 10s' });
  if (f.block_duration_ms < 2 * f.refresh_ms) issues.push({ path: `${base}.block_duration`, reason: 'must be at least twice refresh (an entry must outlive one missed refresh)' });
  if (f.timeout_ms < 100 || f.timeout_ms > 600_000) issues.push({ path: `${base}.timeout`, reason: 'must be between 100ms and 10m' });
  return issues;
}

export function feedIssues(feeds: readonly FeedConfig[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  feeds.forEach((f, i) => {
    if (seen.has(f.name)) issues.push({ path: `feeds[${i}].name`, reason: `${JSON.stringify(f.name)} is already the name of another feed` });
    seen.add(f.name);
    issues.push(...feedProblems(f, `feeds[${i}]`));
  });
  return issues;
}
