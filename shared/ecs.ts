// Security events and block decisions in the Elastic Common Schema (ECS 8.x):
// what a SIEM (Elastic, OpenSearch, Splunk, Wazuh, ...) ingests without a
// custom parser. One owner of the mapping for both of its users: the API's
// export (GET /api/security/events/export, rows read from ClickHouse) and the
// notifier's SIEM push (records read from the bus).
//
// ECS_FIELDS and ECS_BLOCK_FIELDS are the mappings as the README documents
// them (field, ECS type, where it comes from); the export test and the SIEM
// push test check every document they see against the README's tables.
// Severity follows Elastic's detection rules (low 21, medium 47, high 73,
// critical 99), so a SIEM's own severity filters apply.
import { createHash } from 'node:crypto';
import type { BlockDecision } from './records.js';

export const ECS_VERSION = '8.11.0';

export type EcsType = 'date' | 'keyword' | 'ip' | 'long' | 'keyword[]' | 'object';
export type EcsField = { field: string; type: EcsType; from: string; optional?: true };

/** Severity names (the SIEM push's min_severity) and their ECS event.severity. */
export const SEVERITIES = { low: 21, medium: 47, high: 73, critical: 99 } as const;
export type Severity = keyof typeof SEVERITIES;

/** Severity of a security event by its type: a block is high, evidence medium, a hint low. */
const EVENT_SEVERITY: Record<string, Severity> = { blocked_ip: 'high', scan_detected: 'medium', auth_failed: 'medium', rate_limited: 'medium', suspicious: 'low', challenge: 'low' };
/** Severity of a decision by its action. */
const BLOCK_SEVERITY: Record<string, Severity> = { block: 'high', challenge: 'medium', unblock: 'low' };

export const eventSeverity = (type: string): number => SEVERITIES[EVENT_SEVERITY[type] ?? 'low'];
export const blockSeverity = (action: string): number => SEVERITIES[BLOCK_SEVERITY[action] ?? 'low'];

/** The events mapping: ECS field → type and source, in the README's order. */
export const ECS_FIELDS: readonly EcsField[] = [
  { field: '@timestamp', type: 'date', from: 'events.ts (the end of the detection window)' },
  { field: 'ecs.version', type: 'keyword', from: `"${ECS_VERSION}"` },
  { field: 'event.id', type: 'keyword', from: 'events.id' },
  { field: 'event.kind', type: 'keyword', from: '"alert"' },
  { field: 'event.category', type: 'keyword[]', from: '["intrusion_detection"]' },
  { field: 'event.type', type: 'keyword[]', from: '["denied"] for blocked_ip, ["info"] otherwise' },
  { field: 'event.action', type: 'keyword', from: 'events.type (scan_detected, rate_limited, auth_failed, suspicious, blocked_ip)' },
  { field: 'event.severity', type: 'long', from: '73 (high) for blocked_ip; 47 (medium) for scan_detected, auth_failed, rate_limited; 21 (low) otherwise' },
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

/** The block decisions mapping (SIEM push), in the README's order. */
export const ECS_BLOCK_FIELDS: readonly EcsField[] = [
  { field: '@timestamp', type: 'date', from: 'decision.created_at' },
  { field: 'ecs.version', type: 'keyword', from: `"${ECS_VERSION}"` },
  { field: 'event.id', type: 'keyword', from: 'decision:<hash of the decision> (the notifier\'s item id)' },
  { field: 'event.kind', type: 'keyword', from: '"event"' },
  { field: 'event.category', type: 'keyword[]', from: '["intrusion_detection"]' },
  { field: 'event.type', type: 'keyword[]', from: '["denied"] for block and challenge, ["allowed"] for unblock' },
  { field: 'event.action', type: 'keyword', from: 'decision.action (block, challenge, unblock)' },
  { field: 'event.severity', type: 'long', from: '73 (high) for block, 47 (medium) for challenge, 21 (low) for unblock' },
  { field: 'event.reason', type: 'keyword', from: 'decision.reason' },
  { field: 'event.module', type: 'keyword', from: '"logwarden"' },
  { field: 'event.dataset', type: 'keyword', from: '"logwarden.blocks"' },
  { field: 'event.end', type: 'date', from: 'decision.expires_at; absent for a permanent block and an unblock', optional: true },
  { field: 'rule.name', type: 'keyword', from: 'decision.source (auto, manual, filter, feed:<name>)' },
  { field: 'source.ip', type: 'ip', from: 'decision.ip when it is one address; absent for a CIDR range', optional: true },
  { field: 'source.address', type: 'keyword', from: 'decision.ip (an address or a CIDR range)' },
  { field: 'service.name', type: 'keyword', from: 'decision.deployment; absent when the decision holds for every deployment', optional: true },
  { field: 'user.name', type: 'keyword', from: 'decision.actor (api:<token name>) when a person decided', optional: true },
  { field: 'observer.vendor', type: 'keyword', from: '"logwarden"' },
  { field: 'observer.product', type: 'keyword', from: '"logwarden"' },
  { field: 'observer.type', type: 'keyword', from: '"ids"' },
  { field: 'logwarden.escalation_level', type: 'long', from: 'decision.escalation_level (0 for a first offence)' },
];

/** A security event as the export reads it from ClickHouse, or as the bus carries it (shared/records.ts SecurityEvent). */
export interface EcsEventRow {
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
const OBSERVER = { vendor: 'logwarden', product: 'logwarden', type: 'ids' };

/** One event as an ECS document (nested objects; empty enrichment values are left out). */
export function toEcs(r: EcsEventRow): Record<string, unknown> {
  const source: Record<string, unknown> = { ip: r.ip, address: r.ip };
  if (r.country) source.geo = { country_iso_code: r.country };
  const asn = r.asn === null || r.asn === undefined || r.asn === '' ? undefined : Number(r.asn);
  if ((asn !== undefined && asn > 0) || r.as_org) source.as = { ...(asn !== undefined && asn > 0 ? { number: asn } : {}), ...(r.as_org ? { organization: { name: r.as_org } } : {}) };
  return {
    '@timestamp': iso(r.ts),
    ecs: { version: ECS_VERSION },
    event: {
      id: r.id, kind: 'alert', category: ['intrusion_detection'], type: [r.type === 'blocked_ip' ? 'denied' : 'info'], action: r.type, severity: eventSeverity(r.type),
      module: 'logwarden', dataset: 'logwarden.security_events', start: iso(r.window_start), end: iso(r.window_end),
    },
    rule: { name: r.detector },
    source,
    service: { name: r.deployment },
    observer: OBSERVER,
    logwarden: { count: Number(r.count), sample_paths: r.sample_paths, details: r.details },
  };
}

const hex = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 32);

/**
 * A decision has no id of its own: its content is its identity. The same
 * decision published twice (a producer retry, a detector re-emitting after a
 * partition moved) has the same id; a later block of the same address does not.
 */
export function decisionId(d: BlockDecision): string {
  return `decision:${hex(JSON.stringify([d.ip, d.action, d.created_at, d.source, d.reason, d.expires_at, d.deployment]))}`;
}

/** One block decision as an ECS document. */
export function blockToEcs(d: BlockDecision): Record<string, unknown> {
  const range = d.ip.includes('/');
  return {
    '@timestamp': iso(d.created_at),
    ecs: { version: ECS_VERSION },
    event: {
      id: decisionId(d), kind: 'event', category: ['intrusion_detection'], type: [d.action === 'unblock' ? 'allowed' : 'denied'], action: d.action,
      severity: blockSeverity(d.action), reason: d.reason, module: 'logwarden', dataset: 'logwarden.blocks',
      ...(d.expires_at !== null && d.action !== 'unblock' ? { end: iso(d.expires_at) } : {}),
    },
    rule: { name: d.source },
    source: range ? { address: d.ip } : { ip: d.ip, address: d.ip },
    ...(d.deployment ? { service: { name: d.deployment } } : {}),
    ...(d.actor ? { user: { name: d.actor } } : {}),
    observer: OBSERVER,
    logwarden: { escalation_level: d.escalation_level },
  };
}
