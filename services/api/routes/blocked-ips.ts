// /api/security/blocked-ips: blocks in force (FlatRun's POST, plus list,
// read and delete by address or range). A block is a BlockDecision given to
// the ControlStore: durable in control_blocks, published on the decisions
// topic, pushed to the nodes by the enforcers.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { withSecurityOverrides } from '../../../shared/control/settings.js';
import { composeWhitelist, type WhitelistSource } from '../../../shared/control/whitelist.js';
import { ipInRange, normalizeIpOrCidr } from '../../../shared/ip.js';
import type { BlockDecision, BlockSource } from '../../../shared/records.js';
import { ApiError, invalid } from '../errors.js';
import { actor, deploymentName, envelope, ipOrCidr, list, MAX_DURATION_S, normalizedIpParam, paging, text, type RouteDeps } from './common.js';

const blockSchema = {
  type: 'object',
  required: ['ip', 'reason', 'source', 'created_at', 'expires_at', 'deployment', 'escalation_level'],
  properties: {
    ip: { type: 'string' },
    action: { type: 'string', enum: ['block', 'challenge'], description: 'challenge: the client gets the challenge page until it passes (detection.challenge_threshold)' },
    reason: { type: 'string' },
    source: { type: 'string', description: 'auto, manual, filter, or feed:<name> (a blocklist feed)' },
    created_at: { type: 'integer', description: 'epoch ms' },
    expires_at: { type: ['integer', 'null'], description: 'epoch ms; null = permanent' },
    deployment: { type: 'string', description: "'' = every deployment" },
    escalation_level: { type: 'integer' },
  },
} as const;

/** One source, `feed` (every feed's blocks) or `feed:<name>` (one feed's). */
const sourceFilter = {
  type: 'string',
  pattern: '^(auto|manual|filter|feed|feed:[a-z0-9][a-z0-9_.-]{0,63})$',
  description: 'auto, manual, filter; feed: every blocklist feed\'s blocks; feed:<name>: one feed\'s',
} as const;

function blockOut(d: BlockDecision): object {
  return { ip: d.ip, action: d.action === 'challenge' ? 'challenge' : 'block', reason: d.reason, source: d.source, created_at: d.created_at, expires_at: d.expires_at, deployment: d.deployment ?? '', escalation_level: d.escalation_level };
}

/**
 * The whitelist entry (config file or control plane) that covers an address, or overlaps a
 * range; undefined when none does. A block for one deployment is checked against that
 * deployment's own entries too; a block for every deployment against the global ones.
 */
function isWhitelisted(ip: string, deployment: string, deps: RouteDeps): WhitelistSource | undefined {
  const isRange = ip.includes('/');
  const covers = (entry: string): boolean => {
    const e = normalizeIpOrCidr(entry);
    if (!e) return false;
    if (!isRange) return ipInRange(ip, e);
    // A block range that overlaps a whitelisted address or range.
    const [net] = ip.split('/') as [string];
    const [enet] = e.split('/') as [string];
    return ipInRange(net, e) || ipInRange(enet, ip);
  };
  const { entries } = composeWhitelist(deps.config.detection.whitelist, deps.control.state);
  return entries.find((w) => (w.deployment === '' || w.deployment === deployment) && covers(w.value));
}

export function registerBlockedIps(app: FastifyInstance, deps: RouteDeps): void {
  const { store, state } = deps.control;
  app.post<{ Body: { ip: string; action?: 'block' | 'challenge'; reason?: string; duration?: number; permanent?: boolean; deployment?: string; force?: boolean } }>(
    '/api/security/blocked-ips',
    {
      config: { auth: 'admin' },
      schema: {
        summary: 'Block an address or CIDR range',
        description:
          '`duration` in seconds; 0 or absent follows `auto_block_duration`; `"permanent": true` blocks until unblocked. `"action": "challenge"` challenges instead of blocking (nginx answers with a page a browser passes without interaction). A whitelisted address, or the caller\'s own, is refused unless `"force": true`.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['ip'],
          properties: {
            ip: ipOrCidr,
            action: { type: 'string', enum: ['block', 'challenge'], description: 'block (default) or challenge' },
            reason: text(256),
            duration: { type: 'integer', minimum: 0, maximum: MAX_DURATION_S, description: 'seconds' },
            permanent: { type: 'boolean' },
            deployment: deploymentName,
            force: { type: 'boolean' },
          },
          example: { ip: '192.168.1.100', reason: 'Suspicious activity', duration: 86400 },
        },
        response: { 201: envelope(blockSchema) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const ip = normalizedIpParam(b.ip, 'ip');
      if (b.permanent === true && b.duration !== undefined && b.duration > 0) throw invalid('duration', 'must be absent or 0 when permanent is true');
      if (!b.force) {
        const w = isWhitelisted(ip, b.deployment ?? '', deps);
        if (w) throw new ApiError('LW_API_WHITELISTED', `${ip} is whitelisted (${w.value}${w.description ? `: ${w.description}` : ''}); send "force": true to block it anyway`, 'ip');
        const caller = normalizeIpOrCidr(req.ip);
        if (caller && ipInRange(caller, ip)) throw new ApiError('LW_API_SELF_BLOCK', `${ip} covers this request's own address ${caller}; send "force": true to block it anyway`, 'ip');
      }
      const now = Date.now();
      const durationMs = b.permanent === true ? null : b.duration !== undefined && b.duration > 0 ? b.duration * 1000 : withSecurityOverrides(deps.config, state).security.auto_block_duration_ms;
      const d: BlockDecision = {
        ip, action: b.action ?? 'block', reason: b.reason ?? (b.action === 'challenge' ? 'manual challenge' : 'manual block'), source: 'manual', created_at: now,
        expires_at: durationMs === null ? null : now + durationMs, deployment: b.deployment ?? null, escalation_level: 0, actor: actor(req),
      };
      await store.decide(d);
      return reply.code(201).send({ data: blockOut(d), message: `${ip} ${d.action === 'challenge' ? 'challenged' : 'blocked'}` });
    },
  );

  app.get<{ Querystring: { source?: BlockSource | 'feed'; ip?: string; deployment?: string; limit: number; offset: number } }>(
    '/api/security/blocked-ips',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Blocks in force, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { source: sourceFilter, ip: { ...ipOrCidr, description: 'an address, or a CIDR: blocks inside it' }, deployment: deploymentName, ...paging },
        },
        response: { 200: list(blockSchema, { total: { type: 'integer' }, limit: { type: 'integer' }, offset: { type: 'integer' } }) },
      },
    },
    async (req) => {
      const q = req.query;
      const page = await store.listBlocks({
        limit: q.limit, offset: q.offset,
        ...(q.source ? { source: q.source } : {}),
        ...(q.ip ? { ip: normalizedIpParam(q.ip, 'ip') } : {}),
        ...(q.deployment !== undefined ? { deployment: q.deployment } : {}),
      });
      return { data: page.blocks, total: page.total, limit: q.limit, offset: q.offset };
    },
  );

  registerBlockByIp(app, deps);
}

/** GET and DELETE of one block, by address or range. */
function registerBlockByIp(app: FastifyInstance, deps: RouteDeps): void {
  const { store } = deps.control;
  // An address, or a CIDR whose "/" is sent encoded (%2F) or as a second segment.
  const ipParams = { type: 'object', additionalProperties: false, required: ['ip'], properties: { ip: { type: 'string', maxLength: 64 }, bits: { type: 'string', pattern: '^\\d{1,3}$' } } } as const;
  const ipFromParams = (p: { ip: string; bits?: string }): string => normalizedIpParam(p.bits === undefined ? p.ip : `${p.ip}/${p.bits}`, 'ip');

  const getBlock = async (req: FastifyRequest<{ Params: { ip: string; bits?: string } }>) => {
    const ip = ipFromParams(req.params);
    const page = await store.listBlocks({ ip, limit: 1000, offset: 0 });
    const exact = page.blocks.filter((b) => b.ip === ip);
    if (exact.length === 0) throw new ApiError('LW_API_NOT_FOUND', `${ip} is not blocked`, 'ip');
    return { data: exact[0] };
  };
  const deleteBlock = async (req: FastifyRequest<{ Params: { ip: string; bits?: string } }>) => {
    const ip = ipFromParams(req.params);
    const page = await store.listBlocks({ ip, limit: 1000, offset: 0 });
    const held = page.blocks.filter((b) => b.ip === ip);
    if (held.length === 0) throw new ApiError('LW_API_NOT_FOUND', `${ip} is not blocked`, 'ip');
    const now = Date.now();
    for (const b of held) {
      await store.decide({ ip, action: 'unblock', reason: 'manual unblock', source: 'manual', created_at: now, expires_at: null, deployment: b.deployment === '' ? null : b.deployment, escalation_level: b.escalation_level, actor: actor(req) });
    }
    return { data: { ip, unblocked: true }, message: `${ip} unblocked` };
  };
  const unblockResponse = { 200: envelope({ type: 'object', required: ['ip', 'unblocked'], properties: { ip: { type: 'string' }, unblocked: { type: 'boolean' } } }) };
  for (const url of ['/api/security/blocked-ips/:ip', '/api/security/blocked-ips/:ip/:bits']) {
    const params = url.endsWith(':bits') ? ipParams : { ...ipParams, properties: { ip: ipParams.properties.ip } };
    app.get(url, { config: { auth: 'analyst' }, schema: { summary: 'One block in force', params, response: { 200: envelope(blockSchema) } } }, getBlock);
    app.delete(url, { config: { auth: 'admin' }, schema: { summary: 'Lift a block', params, response: unblockResponse } }, deleteBlock);
  }
}
