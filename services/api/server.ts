// The management API (fastify, port 8090): FlatRun's security endpoints under
// /api/security, plus lists, filter rules, live streams, OpenAPI and probes.
//
// Every route declares its schema (validation and the OpenAPI document come
// from the same objects) and who may call it (`config.auth`): public (probes,
// the API description), analyst (reads) or admin (changes). A route without
// an auth level is admin-only: forgetting it fails closed.
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type RouteOptions } from 'fastify';
import { randomUUID } from 'node:crypto';
import { securityEventCodec } from '../../shared/avro/codec.js';
import type { Bus } from '../../shared/bus/types.js';
import type { ClickHouse } from '../../shared/clickhouse/client.js';
import type { Config } from '../../shared/config/load.js';
import { realtimeCapture } from '../../shared/control/settings.js';
import type { ControlState } from '../../shared/control/state.js';
import type { ControlStore } from '../../shared/control/store.js';
import { rootLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';
import type { SecurityEvent } from '../../shared/records.js';
import type { Topics } from '../../shared/topics.js';
import { Counter } from 'prom-client';
import { TokenTable, type Principal, type Role, type TokenEntry } from '../../shared/auth/tokens.js';
import { FailureLimiter } from './auth-failures.js';
import { ApiError, API_ERRORS } from './errors.js';
import { buildOpenApi, docsPage, docsScript, type RouteDoc } from './openapi.js';
import { registerDashboardRoutes, registerSecurityRoutes } from './routes/index.js';
import { validationError, validatorCompiler } from './validation.js';
import { storeWithReadDeadline, withReadDeadline } from './storage-deadline.js';
import { HSTS, tlsServer } from './tls.js';
import type { FeedStatus } from '../feeds/index.js';

export type AuthLevel = 'public' | Role;

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthLevel;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
  // OpenAPI annotations beside the validation schemas (openapi.ts reads them).
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: string[];
    produces?: string;
  }
}

const authFailures = new Counter({ name: 'logwarden_api_auth_failures_total', help: 'API calls refused for a missing or invalid token', labelNames: ['reason'], registers: [registry] });

export interface ApiDeps {
  config: Config;
  bus: Bus;
  ch: ClickHouse;
  version: string;
  topics?: Topics;
  control?: { state: ControlState; store: ControlStore };
  /** Present when an enforcer runs in this process: refresh waits for its re-push. */
  refresh?: () => Promise<void>;
  /** Present when this process runs blocklist feeds: their status (GET /api/feeds). */
  feeds?: () => readonly FeedStatus[];
  /** Tokens besides config.api.tokens (the token file). */
  tokens?: readonly TokenEntry[];
  /** A ClickHouse read unanswered after this long is a 503 (storage-deadline.ts). Default STORAGE_READ_TIMEOUT_MS. */
  storageTimeoutMs?: number;
}

/** Whether a request's role satisfies a route's level. */
function allowed(role: Role, level: AuthLevel): boolean {
  return level === 'public' || role === 'admin' || (level === 'analyst' && role === 'analyst');
}

export function buildApi(apiDeps: ApiDeps) {
  // Every route reads through the deadline: a ClickHouse that does not answer is a 503, not a hang.
  const ms = apiDeps.storageTimeoutMs;
  const deps: ApiDeps = {
    ...apiDeps,
    ch: withReadDeadline(apiDeps.ch, ms),
    ...(apiDeps.control ? { control: { state: apiDeps.control.state, store: storeWithReadDeadline(apiDeps.control.store, ms) } } : {}),
  };
  const tls = tlsServer(deps.config.api);
  const app = Fastify({
    // Plain HTTP keeps fastify's own server (its timeouts and keep-alive settings); HTTPS comes from tls.ts.
    ...(tls ? { serverFactory: tls.factory } : {}),
    loggerInstance: rootLogger.child({ component: 'api' }),
    bodyLimit: deps.config.api.body_limit_bytes,
    // Per-request lines would double the log volume of probes and scrapes; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Answers `?a=1&a=2` with one value per key; arrays only where a schema says so.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    ajv: { customOptions: {} },
  });
  app.addHook('onClose', (_app, done) => {
    tls?.close();
    done();
  });
  if (tls) {
    app.addHook('onSend', (_req, reply, payload, done) => {
      void reply.header('strict-transport-security', HSTS);
      done(null, payload);
    });
  }
  app.setValidatorCompiler(validatorCompiler);
  app.setSchemaErrorFormatter((errors, dataVar) => validationError(errors, dataVar));

  const tokens = new TokenTable([...deps.config.api.tokens, ...(deps.tokens ?? [])]);
  const limiter = new FailureLimiter(deps.config.api.auth_failures_per_minute);
  const docs: RouteDoc[] = [];

  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const m of methods) {
      if (m === 'HEAD') continue;
      docs.push({ method: m, url: route.url, schema: (route.schema ?? {}) as Record<string, unknown>, auth: route.config?.auth ?? 'admin' });
    }
  });

  const publishAuthFailure = (req: FastifyRequest, reason: string): void => {
    if (!deps.topics) return;
    const now = Date.now();
    const event: SecurityEvent = {
      id: randomUUID(), ts: now, type: 'auth_failed', detector: 'api_auth', ip: req.ip, deployment: 'logwarden-api', count: 1,
      window_start: now, window_end: now, sample_paths: [req.url.split('?')[0]?.slice(0, 200) ?? ''], details: { reason, method: req.method },
    };
    deps.bus.publish(deps.topics.events, [{ key: req.ip, value: securityEventCodec.encode(event) }]).catch((err: unknown) => {
      app.log.warn({ err: String(err) }, 'auth_failed event not published');
    });
  };

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    // Unknown routes under /api need a token too: an anonymous caller learns nothing about which exist.
    const level: AuthLevel = req.routeOptions.config.auth ?? (req.routeOptions.url === undefined && !req.url.startsWith('/api/') ? 'public' : 'admin');
    if (level === 'public') return;
    if (limiter.limited(req.ip)) {
      authFailures.inc({ reason: 'rate_limited' });
      void reply.header('retry-after', String(limiter.retryAfter(req.ip)));
      throw new ApiError('LW_API_TOO_MANY_AUTH_FAILURES');
    }
    const header = req.headers.authorization ?? '';
    const m = /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header);
    const principal = m ? tokens.verify(m[1] as string) : undefined;
    if (!principal) {
      const reason = header === '' ? 'missing' : m ? 'invalid' : 'malformed';
      authFailures.inc({ reason });
      limiter.fail(req.ip);
      req.log.warn({ ip: req.ip, url: req.url.split('?')[0], reason }, 'API login failed');
      publishAuthFailure(req, reason);
      void reply.header('www-authenticate', 'Bearer realm="logwarden"');
      throw new ApiError('LW_API_UNAUTHORIZED');
    }
    req.principal = principal;
    if (!allowed(principal.role, level)) throw new ApiError('LW_API_FORBIDDEN', `the ${principal.role} role may not ${req.method} this route (needs ${level})`);
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    const e = toApiError(err);
    if (e.statusCode >= 500) req.log.error({ err, url: req.url }, 'request failed');
    return reply.code(e.statusCode).type('application/json').send(e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError('LW_API_ROUTE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0] ?? ''}`);
    return reply.code(e.statusCode).send(e.toJSON());
  });

  // Liveness: the process answers. Never depends on ClickHouse or Kafka, so an
  // orchestrator does not restart a healthy process during a dependency outage.
  app.get('/healthz', { config: { auth: 'public' }, schema: { summary: 'Liveness probe', tags: ['probes'] } }, () => ({ status: 'ok', version: deps.version }));

  // Readiness: the dependencies answer.
  app.get('/readyz', { config: { auth: 'public' }, schema: { summary: 'Readiness probe (ClickHouse answers)', tags: ['probes'] } }, async (_req, reply) => {
    const clickhouse = await deps.ch.ping().catch(() => false);
    const ready = clickhouse;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: { clickhouse, bus: deps.bus.kind } });
  });

  app.get('/metrics', { config: { auth: 'public' }, schema: { summary: 'Prometheus metrics', tags: ['probes'] } }, async (_req, reply) => {
    return reply.header('content-type', registry.contentType).send(await registry.metrics());
  });

  if (deps.control && deps.topics) {
    // Capture is a control-plane setting (read your writes: the store applies it locally before answering).
    const { config, control: { state } } = deps;
    const capture = { get capture() { return realtimeCapture(config, state); } };
    registerSecurityRoutes(app as unknown as FastifyInstance, { ...deps, control: deps.control, topics: deps.topics, state: capture });
  }
  registerDashboardRoutes(app as unknown as FastifyInstance, deps);

  let openapi: object | undefined;
  app.get('/api/openapi.json', { config: { auth: 'public' }, schema: { summary: 'This API as an OpenAPI 3 document', tags: ['meta'] } }, () => {
    openapi ??= buildOpenApi(docs, deps.version);
    return openapi;
  });
  app.get('/api/docs', { config: { auth: 'public' }, schema: { summary: 'API documentation page', tags: ['meta'] } }, (_req, reply) => {
    return reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'self'; style-src 'unsafe-inline'").send(docsPage());
  });
  app.get('/api/docs.js', { config: { auth: 'public' }, schema: { summary: 'Script of the documentation page', tags: ['meta'] } }, (_req, reply) => {
    return reply.type('text/javascript; charset=utf-8').send(docsScript());
  });
  return app;
}

export type ApiServer = FastifyInstance;

/** Any error as the API's JSON error. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string; validation?: unknown; name?: string; retryable?: boolean };
  if (e.name === 'QueryInputError') return new ApiError('LW_API_VALIDATION', e.message);
  if (typeof e.code === 'string') {
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new ApiError('LW_API_BODY_TOO_LARGE');
    if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new ApiError('LW_API_UNSUPPORTED_MEDIA');
    if (e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return new ApiError('LW_API_BAD_JSON', 'the body is empty; send a JSON object');
    if (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (e.statusCode === 400 && e.name === 'SyntaxError')) return new ApiError('LW_API_BAD_JSON');
    if (e.code === 'LW_CH_UNAVAILABLE' || e.code === 'LW_CH_CLOSED') return new ApiError('LW_API_STORAGE_UNAVAILABLE');
    if (e.code.startsWith('FST_') && typeof e.statusCode === 'number' && e.statusCode < 500) {
      return new ApiError(e.statusCode === 404 ? 'LW_API_ROUTE_NOT_FOUND' : e.statusCode === 405 ? 'LW_API_METHOD_NOT_ALLOWED' : 'LW_API_VALIDATION', e.message);
    }
  }
  if (e.statusCode === 400 && e.name === 'SyntaxError') return new ApiError('LW_API_BAD_JSON');
  // Every coded error says whether it is retryable; only storage's (ClickHouse, raw or LW_CH_*) means storage.
  if (e.retryable === true && (e.code === undefined || e.code.startsWith('LW_CH_'))) return new ApiError('LW_API_STORAGE_UNAVAILABLE');
  return new ApiError('LW_API_INTERNAL');
}

export { API_ERRORS };
