// The detector's whitelist, compiled for the per-request check.
import type { AccessRecord } from '../../shared/records.js';
import { inRanges, parseRange, type IpRange } from '../../shared/ip.js';

export interface WhitelistSpec {
  ips: readonly string[];
  cidrs: readonly string[];
  /** "/exact", or "/prefix*". */
  paths: readonly string[];
}

/** A whitelist compiled for the per-request check. */
export class CompiledWhitelist {
  private readonly ips: Set<string>;
  private readonly ranges: readonly IpRange[];
  constructor(private readonly spec: WhitelistSpec) {
    this.ips = new Set(spec.ips);
    this.ranges = spec.cidrs.map(parseRange);
  }
  has(rec: AccessRecord): boolean {
    if (this.ips.has(rec.client_ip)) return true;
    for (const p of this.spec.paths) if (rec.path === p || (p.endsWith('*') && rec.path.startsWith(p.slice(0, -1)))) return true;
    return this.ranges.length > 0 && inRanges(rec.client_ip, this.ranges);
  }
}
