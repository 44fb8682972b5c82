// The daily rollups (migrations 000021-22) and the finer rollup each one is
// the twin of: a read over a range takes its whole days from the daily table
// and the rest from the finer one (rollup-queries.ts), and a cleanup that cuts
// a day short rebuilds that day from the finer one (queries.ts). Both read
// the pairing from here, so a new daily table is added in one place.

export interface DailyTwin {
  /** The table of one row a day and key. */
  daily: string;
  /** The finer rollup it sums, with the same key and sum columns. */
  fine: string;
  /** Key columns besides ts. */
  keys: string;
  /** Columns summed into a day. */
  sums: readonly string[];
}

export const DAILY_TWINS = {
  ip: { daily: 'events_by_ip_day', fine: 'events_by_ip_minute', keys: 'ip', sums: ['events', 'requests'] },
  path: { daily: 'events_by_path_day', fine: 'events_by_path_hour', keys: 'path', sums: ['events'] },
  geo: { daily: 'events_by_geo_day', fine: 'events_by_geo_hour', keys: 'deployment, country, asn, as_org', sums: ['events', 'requests'] },
  agent: { daily: 'requests_by_agent_day', fine: 'requests_by_agent_hour', keys: 'deployment, user_agent', sums: ['requests', 'blocked'] },
} as const satisfies Record<string, DailyTwin>;

export type Daily = keyof typeof DAILY_TWINS;

/** The daily twins of event rollups, which an event cleanup cuts short (requests_by_agent_day sums requests, not events). */
export const EVENT_DAILY: readonly Daily[] = ['ip', 'path', 'geo'];
