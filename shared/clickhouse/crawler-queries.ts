// Reads of crawler_verdicts (migration 000019): what DNS said of the addresses
// that claimed a known crawler, for the API's /api/security/crawlers and the
// investigation view. Every value is a bound parameter.
import type { ClickHouse } from './client.js';
import { QueryInputError } from './queries.js';
import { epochMs, ipText } from './sql.js';

export const CRAWLER_VERDICT_STATUSES = ['verified', 'failed'] as const;
export type CrawlerVerdictStatus = (typeof CRAWLER_VERDICT_STATUSES)[number];

/** The verdict in force for one address and claimed crawler. */
export interface CrawlerVerdictRow {
  ip: string;
  crawler: string;
  /** The reverse name DNS gave (forward-confirmed when verified); null when none. */
  hostname: string | null;
  status: CrawlerVerdictStatus;
  /** When this verdict was first reached, epoch ms. */
  first_at: number;
  /** When it was last reached (the latest lookup), epoch ms. */
  last_at: number;
  deployment: string | null;
}

export interface ListCrawlerVerdictsOptions {
  status?: CrawlerVerdictStatus;
  /** The claimed crawler's name, compared case-insensitively. */
  crawler?: string;
  /** One address (text, IPv4 or IPv6). */
  ip?: string;
  /** 1..1000. */
  limit: number;
}

interface RawRow {
  ip: string;
  crawler: string;
  hostname: string;
  status: CrawlerVerdictStatus;
  first_at: string | number;
  last_at: string | number;
  deployment: string;
}

/** The verdicts in force, newest first. */
export async function listCrawlerVerdicts(ch: ClickHouse, opts: ListCrawlerVerdictsOptions): Promise<CrawlerVerdictRow[]> {
  if (!Number.isInteger(opts.limit) || opts.limit < 1 || opts.limit > 1000) throw new QueryInputError(`limit must be 1..1000, got ${opts.limit}`);
  const where: string[] = [];
  const params: Record<string, unknown> = { limit: opts.limit };
  if (opts.status !== undefined) {
    where.push('toString(v.status) = {status:String}');
    params.status = opts.status;
  }
  if (opts.crawler !== undefined) {
    where.push('lower(v.crawler) = lower({crawler:String})');
    params.crawler = opts.crawler;
  }
  if (opts.ip !== undefined) {
    where.push('v.ip = toIPv6OrNull({ip:String})');
    params.ip = opts.ip;
  }
  const rows = await ch.query<RawRow>(
    // Columns through the table's alias: the SELECT's aliases (ip, status) would shadow them in WHERE.
    `SELECT ${ipText('v.ip')} AS ip, v.crawler AS crawler, v.hostname AS hostname, toString(v.status) AS status,
            ${epochMs('v.first_ts')} AS first_at, ${epochMs('v.ts')} AS last_at, v.deployment AS deployment
       FROM ${ch.table('crawler_verdicts')} AS v FINAL
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY v.ts DESC, v.ip, v.crawler
      LIMIT {limit:UInt32}`,
    params,
  );
  return rows.map((r) => ({
    ip: r.ip,
    crawler: r.crawler,
    hostname: r.hostname === '' ? null : r.hostname,
    status: r.status,
    first_at: Number(r.first_at),
    last_at: Number(r.last_at),
    deployment: r.deployment === '' ? null : r.deployment,
  }));
}

/** What the investigation view shows of an address: its verified crawler if DNS confirmed one, else its latest refuted claim, else null. */
export async function crawlerVerdictOf(ch: ClickHouse, ip: string): Promise<CrawlerVerdictRow | null> {
  const rows = await listCrawlerVerdicts(ch, { ip, limit: 100 });
  return rows.find((r) => r.status === 'verified') ?? rows[0] ?? null;
}
