// Country and autonomous system of client addresses from the bundled
// databases (database.ts), and the warning for databases past geo.max_age.
import type { Config } from '../config/load.js';
import { componentLogger } from '../log.js';
import { geoDatabase, staleSources, type GeoDatabase } from './database.js';

export { GeoDatabase, GeoMemo, geoDatabase, staleSources, type GeoAnswer, type GeoFields, type GeoSource } from './database.js';

const log = componentLogger('geo');
let warned = false;

/**
 * The databases when `geo.enabled`, else null; the first call of a process
 * loads them and warns about any older than `geo.max_age`.
 */
export function geoFor(config: Config): GeoDatabase | null {
  if (!config.geo.enabled) return null;
  const db = geoDatabase();
  if (!warned) {
    warned = true;
    for (const s of staleSources(db, config.geo.max_age_ms)) {
      log.warn({ database: s.name, version: s.version, date: s.date, age_days: s.ageDays }, `geo database ${s.name} is ${s.ageDays} days old (geo.max_age): update it with npm update ${s.name}`);
    }
  }
  return db;
}
