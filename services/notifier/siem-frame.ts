// How one ECS document travels to a SIEM target, built once when the record is
// queued (its size is what the queue bound counts):
//
//   http(s)://      one JSON document a line (NDJSON); a batch is one POST body
//   tcp://          the same lines on a TCP connection (Logstash json_lines,
//                   Vector/Fluent Bit socket sources, Splunk raw TCP)
//   syslog+tcp://   one RFC 5424 message a record, octet-counted (RFC 6587
//                   3.4.1, the framing of RFC 5425 without TLS), MSG = the JSON:
//                     <len> <PRI>1 <@timestamp> <hostname> logwarden - <event|block> - <json>
//                   rsyslog's imtcp takes octet-counted frames by default
//                   (SupportOctetCountedFraming="on"), syslog-ng's syslog()
//                   source too; the JSON holds no newline, so a relay that
//                   re-frames by newline keeps each message whole.
// Facility is 4 (security/authorization); the syslog severity follows the
// record's ECS event.severity: critical → 2 (crit), high → 4 (warning),
// medium → 5 (notice), low → 6 (info).
import { hostname } from 'node:os';
import type { SiemTarget } from '../../shared/config/types.js';
import { SEVERITIES } from '../../shared/ecs.js';

export type SiemRecordKind = 'event' | 'block';

const FACILITY = 4;

/** RFC 5424 HOSTNAME: printable US-ASCII without spaces, at most 255; '-' when there is none. */
const HOST = ((): string => {
  const h = hostname().replace(/[^\x21-\x7e]/g, '').slice(0, 255);
  return h === '' ? '-' : h;
})();

export function syslogSeverity(ecsSeverity: number): number {
  if (ecsSeverity >= SEVERITIES.critical) return 2;
  if (ecsSeverity >= SEVERITIES.high) return 4;
  if (ecsSeverity >= SEVERITIES.medium) return 5;
  return 6;
}

/** One RFC 5424 message (without framing): MSG is the JSON document. */
export function syslogMessage(json: string, kind: SiemRecordKind, ecsSeverity: number, timestamp: string): string {
  return `<${FACILITY * 8 + syslogSeverity(ecsSeverity)}>1 ${timestamp} ${HOST} logwarden - ${kind} - ${json}`;
}

/** The bytes one ECS document takes on the wire of this target (a batch is their concatenation). */
export function frame(transport: SiemTarget['transport'], doc: Record<string, unknown>, kind: SiemRecordKind): Buffer {
  const json = JSON.stringify(doc);
  if (transport !== 'syslog') return Buffer.from(`${json}\n`, 'utf8');
  const event = doc.event as { severity: number };
  const msg = Buffer.from(syslogMessage(json, kind, event.severity, doc['@timestamp'] as string), 'utf8');
  return Buffer.concat([Buffer.from(`${msg.length} `, 'latin1'), msg]);
}
