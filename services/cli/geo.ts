// `logwarden geo [ADDRESS]`: the bundled country and ASN databases (package,
// version, data date, licence, ranges, size on disk, age against
// geo.max_age), and what they say of an address. Local: reads no API.
import type { Config } from '../../shared/config/load.js';
import { geoDatabase, staleSources } from '../../shared/geo/index.js';
import { normalizeIp } from '../../shared/ip.js';
import { UsageError } from './errors.js';

export function geoReport(config: Config, address: string | undefined, json: boolean, now = Date.now()): string {
  const ip = address === undefined ? undefined : normalizeIp(address);
  if (address !== undefined && ip === undefined) throw new UsageError(`geo takes an IPv4 or IPv6 address, not "${address}"`);
  const db = geoDatabase();
  const stale = new Set(staleSources(db, config.geo.max_age_ms, now).map((s) => s.name));
  const sources = db.sources.map((s) => ({
    ...s,
    age_days: Math.floor((now - Date.parse(`${s.date}T00:00:00Z`)) / 86_400_000),
    stale: stale.has(s.name),
  }));
  const answer = ip === undefined ? undefined : { address: ip, ...db.lookup(ip) };
  if (json) return `${JSON.stringify({ enabled: config.geo.enabled, max_age_days: config.geo.max_age_ms / 86_400_000, databases: sources, ...(answer ? { lookup: answer } : {}) })}\n`;
  const lines = [`geo databases${config.geo.enabled ? '' : ' (geo.enabled is false: not used)'}; geo.max_age ${config.geo.max_age_ms / 86_400_000}d`];
  for (const s of sources) {
    lines.push(
      `  ${s.name} ${s.version}  (${s.gives})`,
      `    data of ${s.date}, ${s.age_days} days old${s.stale ? ' — OLDER THAN geo.max_age: update the package' : ''}`,
      `    licence ${s.license}; ${s.ranges} ranges; ${(s.bytesOnDisk / 1048576).toFixed(1)} MiB read from disk`,
    );
  }
  if (answer) {
    lines.push(
      `${answer.address}`,
      `  country  ${answer.country ?? '(unknown)'}`,
      `  ASN      ${answer.asn === null ? '(unknown)' : `AS${answer.asn}`}${answer.as_org ? `  ${answer.as_org}` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
