// The management API's routes, one file per resource, each with its record
// and request schemas beside it; common.ts holds what several share.
//
// The /api/security routes are FlatRun's, exactly as its documentation writes
// them, plus the reads and filter-rule endpoints a user of such an API
// expects. Every change goes through the ControlStore: durable in ClickHouse,
// published on the bus, then visible to the next GET of this process.
//
// Registration order is kept: within one path, the OpenAPI document lists the
// methods in the order they were registered.
import type { FastifyInstance } from 'fastify';
import { registerBlockedIps } from './blocked-ips.js';
import { registerCleanup } from './cleanup.js';
import type { DashboardDeps, RouteDeps } from './common.js';
import { registerCrawlers } from './crawlers.js';
import { registerConfig } from './config.js';
import { registerDashboard } from './dashboard.js';
import { registerDeployments } from './deployments.js';
import { registerEvents } from './events.js';
import { registerFeeds } from './feeds.js';
import { registerExport } from './export.js';
import { registerFilter } from './filter.js';
import { registerPipelineStatus } from './pipeline-status.js';
import { registerProtectedRoutes } from './protected-routes.js';
import { registerRealtimeCapture } from './realtime-capture.js';
import { registerRefresh } from './refresh.js';
import { registerSoc } from './soc.js';
import { registerStats } from './stats.js';
import { registerWhitelist } from './whitelist.js';

/** Every /api/security and /api/deployments route (they need the control plane). */
export function registerSecurityRoutes(app: FastifyInstance, deps: RouteDeps): void {
  registerBlockedIps(app, deps);
  registerWhitelist(app, deps);
  registerProtectedRoutes(app, deps);
  registerDeployments(app, deps);
  registerFilter(app, deps);
  registerEvents(app, deps);
  registerRealtimeCapture(app, deps);
  registerRefresh(app, deps);
  registerStats(app, deps);
  registerCleanup(app, deps);
  registerConfig(app, deps);
  registerFeeds(app, deps);
}

/** The dashboard's page and the reads it needs beyond the control plane; the analysts' SQL (/api/soc); crawler verdicts. */
export function registerDashboardRoutes(app: FastifyInstance, deps: DashboardDeps): void {
  registerDashboard(app, deps);
  registerPipelineStatus(app, deps);
  registerSoc(app, deps);
  registerExport(app, deps);
  registerCrawlers(app, deps);
}
