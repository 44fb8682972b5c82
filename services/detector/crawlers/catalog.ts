// The known crawlers: who may claim which user agent, and which domains its
// owner says its addresses' reverse DNS ends in. The shipped list is data
// (crawlers/known.json beside this file's source, each entry naming the owner's
// page that documents the domains); operators add their own, or replace a
// shipped one by name, in `detection.crawlers.extra`.
import { readSourceJson } from '../../../shared/source-json.js';
import { LogwardenError } from '../../../shared/errors.js';
import { DETECTOR_ERRORS } from '../errors.js';

export interface CrawlerDef {
  /** Lower-case name, e.g. `googlebot`. */
  name: string;
  /** Regular expression source matched case-insensitively against the user agent. */
  user_agent: string;
  /** A forward-confirmed PTR name must equal one of these or end in `.` + one of them. */
  domains: string[];
}

interface KnownSet {
  version: string;
  crawlers: Array<CrawlerDef & { reference: string }>;
}

// Read from the source tree, which the built code sits beside.
function loadKnown(): KnownSet {
  return readSourceJson<KnownSet>(import.meta.url, ['../../../../services/detector/crawlers/known.json', './known.json'], (from) =>
    new LogwardenError(DETECTOR_ERRORS.LW_DETECTOR_CRAWLERS_MISSING, `services/detector/crawlers/known.json not found beside ${from}`),
  );
}

const known = loadKnown();

export const KNOWN_CRAWLERS_VERSION: string = known.version;
export const KNOWN_CRAWLERS: readonly CrawlerDef[] = Object.freeze(known.crawlers.map(({ name, user_agent, domains }) => ({ name, user_agent, domains })));

/** The crawlers a user agent is matched against, compiled once. */
export class CrawlerCatalog {
  readonly crawlers: readonly CrawlerDef[];
  private readonly patterns: RegExp[];
  // One alternation of every pattern: most user agents claim no crawler, and
  // they pay for one regular expression test, not one per crawler.
  private readonly any: RegExp | undefined;

  /** The shipped list with `extra` added; an extra whose name is shipped replaces that entry. */
  constructor(extra: readonly CrawlerDef[] = [], shipped: readonly CrawlerDef[] = KNOWN_CRAWLERS) {
    const byName = new Map<string, CrawlerDef>();
    for (const c of [...shipped, ...extra]) {
      byName.set(c.name.toLowerCase(), { name: c.name.toLowerCase(), user_agent: c.user_agent, domains: c.domains.map(normalizeDomain) });
    }
    this.crawlers = [...byName.values()];
    this.patterns = this.crawlers.map((c) => new RegExp(c.user_agent, 'i'));
    this.any = this.crawlers.length > 0 ? new RegExp(this.crawlers.map((c) => `(?:${c.user_agent})`).join('|'), 'i') : undefined;
  }

  /** The crawler a user agent claims to be, if any (the first in list order). */
  claimed(userAgent: string): CrawlerDef | undefined {
    if (this.any === undefined || !this.any.test(userAgent)) return undefined;
    for (let i = 0; i < this.patterns.length; i++) if ((this.patterns[i] as RegExp).test(userAgent)) return this.crawlers[i];
    return undefined;
  }

  /** True when `hostname` is inside one of the crawler's domains. */
  static owns(crawler: CrawlerDef, hostname: string): boolean {
    const h = normalizeDomain(hostname);
    return crawler.domains.some((d) => h === d || h.endsWith(`.${d}`));
  }

  /** True when `hostname` is inside any crawler's domain: only such names are worth a forward lookup. */
  anyOwns(hostname: string): boolean {
    return this.crawlers.some((c) => CrawlerCatalog.owns(c, hostname));
  }
}

function normalizeDomain(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
