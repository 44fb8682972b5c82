// The export's query of security events (GET /api/security/events/export):
// the SELECT and its bound parameters. The ECS mapping of the rows is
// shared/ecs.ts (one owner, also used by the notifier's SIEM push). Country
// and AS fields appear when the events table has the enrichment columns
// (`country`, `asn`, `as_org`), which the events of this version do not carry yet.
import type { ClickHouse, QueryParams } from '../../../shared/clickhouse/client.js';
import type { BlockDecision } from '../../../shared/records.js';
import { epochMs, ipText } from '../../../shared/clickhouse/sql.js';
import { parseCidr } from '../../../shared/clickhouse/queries.js';

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

/** A row of the blocks history as the blocks export reads it. */
export interface BlockExportRow {
  ts: number;
  action: 'block' | 'unblock' | 'expire' | 'challenge';
  ip: string;
  reason: string;
  source: 'auto' | 'manual' | 'filter' | 'feed';
  feed: string;
  actor: string;
  created_at: number;
  expires_at: number | null;
  deployment: string | null;
  escalation_level: number;
}

/** The blocks history row as the decision it records (an expiry was an unblock with reason "expired"; only a person is an actor). */
export function decisionOfRow(r: BlockExportRow): BlockDecision {
  return {
    ip: r.ip,
    action: r.action === 'expire' ? 'unblock' : r.action,
    reason: r.reason,
    source: r.source === 'feed' ? `feed:${r.feed}` : r.source,
    created_at: Number(r.created_at),
    expires_at: r.expires_at === null ? null : Number(r.expires_at),
    deployment: r.deployment,
    escalation_level: Number(r.escalation_level),
    ...(r.source === 'manual' && r.actor !== '' ? { actor: r.actor } : {}),
  };
}

/** The blocks export's SELECT: decisions in [since, until), oldest first, at most `limit`; an address or a range decided exactly as given. */
export function blocksExportQuery(ch: ClickHouse, f: { since: number; until: number; limit: number; ip?: string; action?: string }): { sql: string; params: QueryParams } {
  const where = ["b.ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')", "b.ts < fromUnixTimestamp64Milli({until:Int64}, 'UTC')"];
  const params: QueryParams = { since: f.since, until: f.until, limit: f.limit };
  if (f.ip !== undefined) {
    where.push('b.ip = {ip:String}');
    params.ip = f.ip;
  }
  if (f.action !== undefined) {
    where.push('toString(b.action) = {action:String}');
    params.action = f.action;
  }
  const sql = `SELECT ${epochMs('b.ts')} AS ts, toString(b.action) AS action, b.ip AS ip, b.reason AS reason, toString(b.source) AS source, b.feed AS feed,
      b.actor AS actor, ${epochMs('b.created_at')} AS created_at, if(isNull(b.expires_at), NULL, ${epochMs('assumeNotNull(b.expires_at)')}) AS expires_at,
      b.deployment AS deployment, b.escalation_level AS escalation_level
    FROM ${ch.table('blocks')} AS b
    WHERE ${where.join(' AND ')}
    ORDER BY b.ts, b.ip
    LIMIT {limit:UInt32}`;
  return { sql, params };
}
