// The three records that travel on the bus. Their wire form is Avro
// (schemas/avro/*.avsc, Confluent framing); these interfaces are the shape
// code works with after decoding. Keep them in step with the .avsc files:
// shared/avro/codec.test.ts round-trips every field.

/** One nginx request, as the ingester parsed it from an access-log line. */
export interface AccessRecord {
  /** Event time from the log line, epoch milliseconds. */
  ts: number;
  /** nginx host that served the request (syslog HOSTNAME or config). */
  node: string;
  /** Deployment (application) the request belongs to; "" when unknown. */
  deployment: string;
  /** Client address, normalised: IPv4 dotted, IPv6 compressed lower-case, IPv4-mapped folded to IPv4. */
  client_ip: string;
  method: string;
  host: string;
  /** Path without the query string, normalised. */
  path: string;
  /** Query string without the leading '?'; "" when none. */
  query: string;
  status: number;
  bytes: number;
  /** Seconds, as nginx's $request_time. */
  request_time: number;
  /** Seconds; null when there was no upstream. */
  upstream_time: number | null;
  user_agent: string;
  referer: string;
  /** ISO 3166-1 alpha-2, upper-case; null when unknown. From the log when nginx gave it, else the ingester's database. */
  country: string | null;
  /** Autonomous system number of client_ip (the ingester's database); null or absent when unknown (decoded records always have it). */
  asn?: number | null;
  /** That autonomous system's organisation; null or absent when unknown. */
  as_org?: string | null;
  auth_user: string | null;
  request_id: string;
  /** Rule id, or "blocklist", when nginx itself refused the request. */
  blocked_by: string | null;
  /** Id of the security_filter WARN rule that matched, if any. */
  filter_alert: string | null;
  /** Log fields logwarden does not model, kept verbatim. */
  extra: Record<string, string>;
}

export type SecurityEventType = 'blocked_ip' | 'rate_limited' | 'auth_failed' | 'suspicious' | 'scan_detected' | 'challenge';

/** An aggregated detection: `count` offending requests of one ip by one detector. */
export interface SecurityEvent {
  /** Unique, stable for the same (ip, detector, window flush): retries do not duplicate. */
  id: string;
  /** Event time of the last offending request, epoch ms. */
  ts: number;
  type: SecurityEventType;
  /** rate | not_found | auth_failure | unique_paths | repeated_hits | filter:<id> | signature:<id> | blocklist | challenge:<outcome> */
  detector: string;
  ip: string;
  deployment: string;
  count: number;
  /** The detection window this event covers, epoch ms. */
  window_start: number;
  window_end: number;
  sample_paths: string[];
  details: Record<string, string>;
  /** Country of `ip` from its latest offending request; null or absent when unknown (decoded events always have it). */
  country?: string | null;
  /** Autonomous system of `ip` from its latest offending request; null or absent when unknown. */
  asn?: number | null;
  as_org?: string | null;
}

/** challenge: the client gets a page a browser passes without interaction (lua/logwarden/challenge.lua) instead of a refusal. */
export type BlockAction = 'block' | 'unblock' | 'challenge';
/** auto (a detector), manual (an operator), filter (a security_filter rule), feed:<name> (a blocklist feed). */
export type BlockSource = 'auto' | 'manual' | 'filter' | `feed:${string}`;

/** A block, challenge or unblock of one address or CIDR range. Keyed by `ip` on a compacted topic: the latest replaces the one before. */
export interface BlockDecision {
  /** An address or a CIDR block ("203.0.113.7", "2001:db8::/64"). */
  ip: string;
  action: BlockAction;
  reason: string;
  source: BlockSource;
  created_at: number;
  /** Epoch ms; null means permanent. */
  expires_at: number | null;
  /** Limits the block to one deployment; null for all. */
  deployment: string | null;
  /** 0 for a first offence; grows with repeat bans. */
  escalation_level: number;
  /** Who decided when a person did (`api:<token name>`); absent for detectors, rules and feeds. */
  actor?: string;
}

export type ControlKind = 'unknown' | 'whitelist' | 'route' | 'deployment' | 'filter' | 'setting';

/** One change to the control plane; keyed by `kind:id` on a compacted topic (shared/control/state.ts folds them). */
export interface ControlChange {
  kind: ControlKind;
  id: string;
  /** Strictly increasing per entity: epoch microseconds of the change. */
  version: number;
  deleted: boolean;
  /** The entity as JSON; '' when deleted. */
  document: string;
  actor: string;
  updated_at: number;
}

export type NoticeKind = 'other' | 'feed_failure' | 'node_out_of_sync';

/** Something operators should hear about besides events and decisions; topic `notices`, keyed by subject (shared/notices.ts). */
export interface Notice {
  /** Stable for one occurrence: the notifier sends one id once. */
  id: string;
  ts: number;
  kind: NoticeKind;
  /** The feed's or the node's name. */
  subject: string;
  message: string;
  details: Record<string, string>;
}

/**
 * What DNS said of a client whose user agent claims a known crawler; topic
 * `crawlers`, keyed by ip (services/detector/crawlers/report.ts publishes it,
 * the sink stores it in crawler_verdicts).
 */
export interface CrawlerVerdict {
  ip: string;
  /** The crawler the user agent claims. */
  crawler: string;
  /** The reverse name DNS gave (forward-confirmed when verified); null when none. */
  hostname: string | null;
  status: 'verified' | 'failed';
  /** When this verdict was reached, epoch ms. */
  ts: number;
  /** When the publishing detector first reached this same verdict for the address, epoch ms. */
  first_ts: number;
  deployment: string | null;
}

/**
 * The client an event is about, as decisions name it: its address, or for an IPv6
 * network client (detection.ipv6_client_prefix) the network, whose address is the
 * event's `ip` (an IPv6 column) and whose prefix length is in `details.client_prefix`.
 */
export function eventClient(e: Pick<SecurityEvent, 'ip' | 'details'>): string {
  const prefix = e.details.client_prefix;
  return prefix ? `${e.ip}/${prefix}` : e.ip;
}
