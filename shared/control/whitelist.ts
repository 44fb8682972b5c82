// The whitelist, composed in one place from both of its sources: the config
// file's `detection.whitelist` and the control plane's entries (API, CLI,
// dashboard), each for every deployment or for one. Every place that honours
// it reads this: the detectors (per deployment too), the API's block checks,
// and the nodes (the node-wide list and each deployment's own).
import type { ControlState, WhitelistEntry } from './state.js';

export interface WhitelistSet {
  ips: string[];
  cidrs: string[];
  /** "/exact", or "/prefix*". */
  paths: string[];
}

export interface WhitelistSource {
  value: string;
  description: string;
}

export interface ComposedWhitelist {
  /** For every deployment. */
  global: WhitelistSet;
  /** Each deployment's own, beside the global ones. */
  deployments: Record<string, WhitelistSet>;
  /** Every address or range entry with where it came from, for the API to name it. */
  entries: Array<WhitelistSource & { deployment: string; type: 'ip' | 'cidr' }>;
}

const emptySet = (): WhitelistSet => ({ ips: [], cidrs: [], paths: [] });

export function composeWhitelist(config: Readonly<WhitelistSet>, control: ControlState | undefined): ComposedWhitelist {
  const out: ComposedWhitelist = { global: emptySet(), deployments: {}, entries: [] };
  const add = (w: Pick<WhitelistEntry, 'type' | 'value' | 'deployment' | 'description'>): void => {
    const set = w.deployment === '' ? out.global : (out.deployments[w.deployment] ??= emptySet());
    if (w.type === 'path') set.paths.push(w.value);
    else {
      // An address is stored as such; a range as a range (the API normalises both).
      (w.value.includes('/') ? set.cidrs : set.ips).push(w.value);
      out.entries.push({ value: w.value, description: w.description, deployment: w.deployment, type: w.value.includes('/') ? 'cidr' : 'ip' });
    }
  };
  const fromConfig = 'config detection.whitelist';
  for (const value of config.ips) add({ type: 'ip', value, deployment: '', description: fromConfig });
  for (const value of config.cidrs) add({ type: 'cidr', value, deployment: '', description: fromConfig });
  for (const value of config.paths) add({ type: 'path', value, deployment: '', description: fromConfig });
  for (const { value: w } of control?.whitelist.values() ?? []) add(w);
  for (const set of [out.global, ...Object.values(out.deployments)]) for (const list of [set.ips, set.cidrs, set.paths]) list.sort();
  return out;
}
