// The security events the sink benches insert (sink-insert, sink-formats,
// sink-views): mostly distinct addresses (a scan from many), five detectors,
// 20 deployments, two sample paths each, spread over the hour before `now`.
import type { SecurityEvent, SecurityEventType } from '../shared/records.js';

const TYPES: SecurityEventType[] = ['suspicious', 'rate_limited', 'scan_detected', 'auth_failed', 'blocked_ip'];
const DETECTORS = ['not_found', 'rate', 'unique_paths', 'auth_failure', 'blocklist'];
const PATHS = ['/wp-login.php', '/.env', '/admin', '/xmlrpc.php', '/.git/config', '/login'];

/** Event number `i`, with its id prefixed by `prefix`. */
export function sinkEvent(i: number, now: number, prefix = 'bench'): SecurityEvent {
  const k = i % 5;
  const ts = now - 3_600_000 + (i % 3_600_000);
  return {
    id: `${prefix}-${i}`, ts, type: TYPES[k] as SecurityEventType, detector: DETECTORS[k] as string,
    ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, deployment: `app-${i % 20}`, count: 1 + (i % 200),
    window_start: ts - 60_000, window_end: ts, sample_paths: [PATHS[i % 6] as string, PATHS[(i >> 3) % 6] as string], details: { requests: String(1 + (i % 200)) },
  };
}

/** sinkEvent with what enrichment adds (a country for six in seven, one of 50 ASes), and no details: what the geo rollups read. */
export function sinkEventWithGeo(i: number, now: number, prefix: string): SecurityEvent {
  const asn = 64500 + (i % 50);
  return { ...sinkEvent(i, now, prefix), details: {}, country: i % 7 ? 'DE' : null, asn, as_org: `AS ${asn}` };
}
