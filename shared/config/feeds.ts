// Checks of blocklist feeds (config `feeds:`, and the API's feed bodies) that
// the JSON Schema cannot express: unique names, a source that is a file or an
// http(s) URL, a block duration that outlives a missed refresh.
import { parseDuration } from './duration.js';
import type { ConfigIssue } from './errors.js';
import { FEED_PROPERTIES } from './schema.js';
import { parseSize } from './size.js';
import type { FeedConfig } from './types.js';

/** A feed as written: the config's feeds[] item, or the API's body (durations and sizes as text). */
export interface FeedSpec {
  name: string;
  source: string;
  format?: 'plain' | 'csv';
  column?: number;
  refresh?: string;
  block_duration?: string;
  deployment?: string;
  timeout?: string;
  max_size?: string;
}

const defaultOf = (key: string): unknown => (FEED_PROPERTIES[key] as { default?: unknown }).default;

/** A spec (validated against FEED_PROPERTIES) with the schema's defaults, durations and sizes resolved. */
export function resolveFeed(s: FeedSpec): FeedConfig {
  const text = (key: keyof FeedSpec): string => (s[key] as string | undefined) ?? (defaultOf(key) as string);
  return {
    name: s.name,
    source: s.source,
    format: s.format ?? (defaultOf('format') as 'plain'),
    column: s.column ?? (defaultOf('column') as number),
    refresh_ms: parseDuration(text('refresh')) ?? 0,
    block_duration_ms: parseDuration(text('block_duration')) ?? 0,
    deployment: text('deployment'),
    timeout_ms: parseDuration(text('timeout')) ?? 0,
    max_size_bytes: parseSize(text('max_size')) ?? 0,
  };
}

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
