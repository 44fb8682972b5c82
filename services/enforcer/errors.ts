// The errors of the enforcer and its nodes (LW_NODE_*). A node that answers
// 5xx or 429, or not at all, is unavailable: the next reconcile retries it. A
// node that answers another 4xx refused what we sent: sending it again will
// fail the same way until the rule set or the node's configuration changes.
import { def, defineErrors } from '../../shared/errors.js';

export const NODE_ERRORS = defineErrors('node', {
  LW_NODE_UNAVAILABLE: def('LW_NODE_UNAVAILABLE', 'a node\'s control endpoint answered 5xx or 429: the next reconcile retries it', { retryable: true }),
  LW_NODE_REFUSED: def('LW_NODE_REFUSED', 'a node\'s control endpoint refused the request (4xx: bad signature, rule set it cannot load)'),
  LW_NODE_RELOAD_FAILED: def('LW_NODE_RELOAD_FAILED', 'file fallback: the reload command is empty or failed (the file stays written)'),
  LW_NODE_FALLBACK_USAGE: def('LW_NODE_FALLBACK_USAGE', 'file-fallback.js needs <rules.json> <out.json> [blocks.json] [--reload "command"]'),
});

/** The def for a node's non-2xx HTTP answer. */
export function nodeAnswerError(status: number): (typeof NODE_ERRORS)['LW_NODE_UNAVAILABLE' | 'LW_NODE_REFUSED'] {
  return status >= 500 || status === 429 ? NODE_ERRORS.LW_NODE_UNAVAILABLE : NODE_ERRORS.LW_NODE_REFUSED;
}
