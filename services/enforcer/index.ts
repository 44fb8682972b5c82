// The enforcer service (enforcer.ts): keeps every configured OpenResty node
// equal to the decisions topic and the control plane. Without nodes there is
// nothing to enforce, and nothing starts.
import { busNoticePublisher } from '../../shared/notices.js';
import type { Started, ServiceContext } from '../context.js';
import { Enforcer } from './enforcer.js';

export type { Enforcer };

export interface StartedEnforcer extends Started {
  enforcer: Enforcer;
}

export async function start(ctx: ServiceContext): Promise<StartedEnforcer | undefined> {
  const { config, bus, topics, control, store } = ctx;
  if (config.nodes.length === 0) return undefined;
  const enforcer = new Enforcer({ config, bus, topics, control, notices: busNoticePublisher(bus, topics) });
  // The in-process topic is empty after a restart; the blocks in force are in control_blocks.
  if (bus.kind === 'memory' && store) enforcer.seed(await store.activeDecisions());
  await enforcer.start();
  return { enforcer, stop: () => enforcer.close() };
}
