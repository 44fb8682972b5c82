// What a notification says. Each record the notifier reads (a decision, an
// event, a notice) becomes one item with a stable id; a message carries one or
// more items (aggregation) and is rendered as generic JSON or as a
// Slack-compatible { text, blocks } body. The message id is derived from its
// items' ids, so a retried message carries the same id and a receiver can
// drop a repeat it already took.
import { createHash } from 'node:crypto';
import type { NotificationKind, NotificationTarget } from '../../shared/config/types.js';
import type { BlockDecision, Notice, SecurityEvent } from '../../shared/records.js';
import { eventClient } from '../../shared/records.js';
import { decisionId } from '../../shared/ecs.js';

export { decisionId };

export interface NotificationItem {
  /** `decision:<hex>`, `event:<event id>` or `notice:<notice id>`: one item is sent once. */
  id: string;
  kind: NotificationKind;
  /** Epoch ms of what happened. */
  ts: number;
  /** One line for people. */
  summary: string;
  /** The record's own fields. */
  fields: Record<string, unknown>;
  /** For event filtering only. */
  eventType?: string;
  detector?: string;
}

const hex = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 32);

const iso = (ms: number | null): string => (ms === null ? 'never' : new Date(ms).toISOString());

export function decisionItem(d: BlockDecision): NotificationItem {
  const what = d.action === 'unblock' ? `unblock ${d.ip}` : `${d.action} ${d.ip} until ${iso(d.expires_at)}`;
  return {
    id: decisionId(d),
    kind: d.action,
    ts: d.created_at,
    summary: `${what} (${d.source}${d.reason ? `: ${d.reason}` : ''})`,
    fields: { ip: d.ip, action: d.action, reason: d.reason, source: d.source, created_at: d.created_at, expires_at: d.expires_at, deployment: d.deployment, escalation_level: d.escalation_level },
  };
}

export function eventItem(e: SecurityEvent): NotificationItem {
  const client = eventClient(e);
  return {
    id: `event:${e.id}`,
    kind: 'event',
    ts: e.ts,
    summary: `${e.type} from ${client} (${e.detector}, ${e.count} requests${e.deployment ? `, ${e.deployment}` : ''})`,
    fields: { event_id: e.id, type: e.type, detector: e.detector, ip: client, deployment: e.deployment, count: e.count, window_start: e.window_start, window_end: e.window_end, sample_paths: e.sample_paths },
    eventType: e.type,
    detector: e.detector,
  };
}

/** A notice of a kind the notifier does not know (a newer writer) is not an item. */
export function noticeItem(n: Notice): NotificationItem | undefined {
  if (n.kind === 'other') return undefined;
  return {
    id: `notice:${n.id}`,
    kind: n.kind,
    ts: n.ts,
    summary: `${n.kind === 'feed_failure' ? 'feed' : 'node'} ${n.subject}: ${n.message || n.kind}`,
    fields: { subject: n.subject, message: n.message, details: n.details },
  };
}

/** Whether a target asked for this item (its kinds, and for events its types and detectors). */
export function wants(t: Pick<NotificationTarget, 'kinds' | 'event_types' | 'detectors'>, item: NotificationItem): boolean {
  if (!t.kinds.includes(item.kind)) return false;
  if (item.kind !== 'event') return true;
  if (t.event_types.length > 0 && !t.event_types.includes(item.eventType ?? '')) return false;
  if (t.detectors.length === 0) return true;
  const detector = item.detector ?? '';
  return t.detectors.some((d) => (d.endsWith('*') ? detector.startsWith(d.slice(0, -1)) : detector === d));
}

export interface Message {
  /** Stable for these items: the same on every retry. */
  id: string;
  /** The request body, built once. */
  body: string;
}

/** Slack mrkdwn needs &, < and > escaped. */
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** Lines listed in a Slack message; the rest are counted. */
const SLACK_LINES = 20;

export function renderMessage(target: Pick<NotificationTarget, 'name' | 'format'>, items: readonly NotificationItem[], now: number): Message {
  const id = hex(items.map((i) => i.id).join('\n'));
  if (target.format === 'json') {
    const body = { id, source: 'logwarden', target: target.name, created_at: now, count: items.length, items: items.map((i) => ({ id: i.id, kind: i.kind, ts: i.ts, summary: i.summary, ...i.fields })) };
    return { id, body: JSON.stringify(body) };
  }
  const head = items.length === 1 ? `logwarden: ${(items[0] as NotificationItem).summary}` : `logwarden: ${items.length} notifications`;
  const lines = items.slice(0, SLACK_LINES).map((i) => `• *${i.kind}* ${esc(i.summary)}`);
  if (items.length > SLACK_LINES) lines.push(`… and ${items.length - SLACK_LINES} more`);
  const body = {
    text: head,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: esc(head).slice(0, 3000) } },
      ...(items.length > 1 ? [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n').slice(0, 3000) } }] : []),
      { type: 'context', elements: [{ type: 'mrkdwn', text: `delivery ${id}` }] },
    ],
  };
  return { id, body: JSON.stringify(body) };
}
