// Security events in the Elastic Common Schema (ECS 8.x), one JSON object a
// line, for GET /api/security/events/export: what a SIEM (Elastic, OpenSearch,
// Splunk, Wazuh, ...) ingests without a custom parser.
//
// ECS_FIELDS is the mapping as the README documents it (field, ECS type,
// where it comes from); the export test checks every exported line against
// the README's table. Country and AS fields appear when the events table has
// the enrichment columns (`country`, `asn`, `as_org`), which the events of
// this version do not carry yet.
import type { ClickHouse, QueryParams } from '../../../shared/clickhouse/client.js';
import { epochMs, ipText } from '../../../shared/clickhouse/sql.js';
import { parseCidr } from '../../../shared/clickhouse/queries.js';

export const ECS_VERSION = '8.11.0';

export type EcsType = 'date' | 'keyword' | 'ip' | 'long' | 'keyword[]' | 'object';

/** The mapping: ECS field → type and source, in the README's order. */
export const ECS_FIELDS: ReadonlyArray<{ field: string; type: EcsType; from: string; optional?: true }> = [
  { field: '@timestamp', type: 'date', from: 'events.ts (the end of the detection window)' },
  { field: 'ecs.version', type: 'keyword', from: `"${ECS_VERSION}"` },
  { field: 'event.id', type: 'keyword', from: 'events.id' },
  { field: 'event.kind', type: 'keyword', from: '"alert"' },
  { field: 'event.category', type: 'keyword[]', from: '["intrusion_detection"]' },
  { field: 'event.type', type: 'keyword[]', from: '["denied"] for blocked_ip, ["info"] otherwise' },
  { field: 'event.action', type: 'keyword', from: 'events.type (scan_detected, rate_limited, auth_failed, suspicious, blocked_ip)' },
  { field: 'event.module', type: 'keyword', from: '"logwarden"' },
  { field: 'event.dataset', type: 'keyword', from: '"logwarden.security_events"' },
  { field: 'event.start', type: 'date', from: 'events.window_start' },
  { field: 'event.end', type: 'date', from: 'events.window_end' },
  { field: 'rule.name', type: 'keyword', from: 'events.detector (rate, not_found, unique_paths, signature:<id>, filter:<id>, ...)' },
  { field: 'source.ip', type: 'ip', from: 'events.ip (IPv4 dotted, IPv6 compressed)' },
  { field: 'source.address', type: 'keyword', from: 'events.ip' },
  { field: 'source.geo.country_iso_code', type: 'keyword', from: 'events.country, when the table has it', optional: true },
  { field: 'source.as.number', type: 'long', from: 'events.asn, when the table has it', optional: true },
  { field: 'source.as.organization.name', type: 'keyword', from: 'events.as_org, when the table has it', optional: true },
  { field: 'service.name', type: 'keyword', from: 'events.deployment' },
  { field: 'observer.vendor', type: 'keyword', from: '"logwarden"' },
  { field: 'observer.product', type: 'keyword', from: '"logwarden"' },
  { field: 'observer.type', type: 'keyword', from: '"ids"' },
  { field: 'logwarden.count', type: 'long', from: 'events.count (requests in the window)' },
  { field: 'logwarden.sample_paths', type: 'keyword[]', from: 'events.sample_paths' },
  { field: 'logwarden.details', type: 'object', from: 'events.details (string → string)' },
];

export interface ExportFilter {
  since: number;
  until: number;
  limit: number;
  type?: string;
  ip?: string;
  cidr?: string;
  deployment?: string;
  detector?: string;
}

interface Row {
  id: string;
  ts: number | string;
  type: string;
  detector: string;
  ip: string;
  deployment: string;
  count: number | string;
  window_start: number | string;
  window_end: number | string;
  sample_paths: string[];
  details: Record<string, string>;
  country?: string | null;
  asn?: number | string | null;
  as_org?: string | null;
}

const iso = (ms: number | string): string => new Date(Number(ms)).toISOString();

/** One event as an ECS document (nested objects; empty enrichment values are left out). */
export function toEcs(r: Row): Record<string, unknown> {
  const source: Record<string, unknown> = { ip: r.ip, address: r.ip };
  if (r.country) source.geo = { country_iso_code: r.country };
  const asn = r.asn === null || r.asn === undefined || r.asn === '' ? undefined : Number(r.asn);
  if ((asn !== undefined && asn > 0) || r.as_org) source.as = { ...(asn !== undefined && asn > 0 ? { number: asn } : {}), ...(r.as_org ? { organization: { name: r.as_org } } : {}) };
  return {
    '@timestamp': iso(r.ts),
    ecs: { version: ECS_VERSION },
    event: {
      id: r.id, kind: 'alert', category: ['intrusion_detection'], type: [r.type === 'blocked_ip' ? 'denied' : 'info'], action: r.type,
      module: 'logwarden', dataset: 'logwarden.security_events', start: iso(r.window_start), end: iso(r.window_end),
    },
    rule: { name: r.detector },
    source,
    service: { name: r.deployment },
    observer: { vendor: 'logwarden', product: 'logwarden', type: 'ids' },
    logwarden: { count: Number(r.count), sample_paths: r.sample_paths, details: r.details },
  };
}

/** Enrichment columns the events table has now (another migration may add them). */
export async function enrichmentColumns(ch: ClickHouse): Promise<Set<string>> {
  const rows = await ch.query<{ name: string }>(
    "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'events' AND name IN ('country', 'asn', 'as_org')",
    { db: ch.database },
  );
  return new Set(rows.map((r) => r.name));
}

/** The export's SELECT and its bound parameters: oldest first, at most `limit` rows. */
export function exportQuery(ch: ClickHouse, f: ExportFilter, enrichment: ReadonlySet<string>): { sql: string; params: QueryParams } {
  const where = ["e.ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')", "e.ts < fromUnixTimestamp64Milli({until:Int64}, 'UTC')"];
  const params: QueryParams = { since: f.since, until: f.until, limit: f.limit };
  if (f.type !== undefined) {
    where.push('toString(e.type) = {type:String}');
    params.type = f.type;
  }
  if (f.ip !== undefined) {
    where.push('e.ip = toIPv6OrNull({ip:String})');
    params.ip = f.ip;
  }
  const c = f.cidr === undefined ? undefined : parseCidr(f.cidr);
  // A range that does not parse matches nothing (never everything).
  if (f.cidr !== undefined && !c) where.push('0');
  if (c) {
    where.push(`e.ip BETWEEN tupleElement(IPv6CIDRToRange(toIPv6({cidr_addr:String}), {cidr_bits:UInt8}), 1)
                 AND tupleElement(IPv6CIDRToRange(toIPv6({cidr_addr:String}), {cidr_bits:UInt8}), 2)`);
    params.cidr_addr = c.address;
    params.cidr_bits = c.bits;
  }
  if (f.deployment !== undefined) {
    where.push('e.deployment = {deployment:String}');
    params.deployment = f.deployment;
  }
  if (f.detector !== undefined) {
    where.push('e.detector = {detector:String}');
    params.detector = f.detector;
  }
  const extra = ['country', 'asn', 'as_org'].filter((col) => enrichment.has(col)).map((col) => `, e.${col} AS ${col}`).join('');
  const sql = `SELECT e.id AS id, ${epochMs('e.ts')} AS ts, toString(e.type) AS type, e.detector AS detector, ${ipText('e.ip')} AS ip,
      e.deployment AS deployment, e.count AS count, ${epochMs('e.window_start')} AS window_start, ${epochMs('e.window_end')} AS window_end,
      e.sample_paths AS sample_paths, e.details AS details${extra}
    FROM ${ch.table('events')} AS e
    WHERE ${where.join(' AND ')}
    ORDER BY e.ts, e.id
    LIMIT {limit:UInt32}`;
  return { sql, params };
}

export type EcsRow = Row;
