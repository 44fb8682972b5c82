// Client addresses: global unicast only (no private, loopback, documentation,
// CGNAT or multicast ranges), unique within one run, and spelled the way nginx
// logs $remote_addr and shared/ip.ts normalises it (dotted quad; IPv6
// lower-case, no leading zeros, `::` only for a run of two or more zero groups).
// These addresses only ever appear inside log lines: nothing is sent to them.
import type { Rng } from './prng.js';

/** First octets that are not ordinary unicast space. */
function reservedV4(a: number, b: number, c: number): boolean {
  if (a === 0 || a === 10 || a === 127 || a >= 224) return true;
  if (a === 100 && b >= 64 && b <= 127) return true; // CGNAT
  if (a === 169 && b === 254) return true;
  if (a === 172 && b >= 16 && b <= 31) return true;
  if (a === 192 && b === 168) return true;
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return true;
  if (a === 192 && b === 88 && c === 99) return true;
  if (a === 198 && (b === 18 || b === 19)) return true;
  if (a === 198 && b === 51 && c === 100) return true;
  if (a === 203 && b === 0 && c === 113) return true;
  return false;
}

export function randomIPv4(rng: Rng): string {
  for (;;) {
    const x = rng.u32();
    const a = x >>> 24;
    const b = (x >>> 16) & 0xff;
    const c = (x >>> 8) & 0xff;
    const d = x & 0xff;
    if (d === 0 || d === 255 || reservedV4(a, b, c)) continue;
    return `${a}.${b}.${c}.${d}`;
  }
}

// Prefixes of large access and hosting networks' allocations, so the addresses
// look like what an edge sees; the rest is random.
const V6_PREFIXES = [0x2001, 0x2003, 0x2400, 0x2404, 0x2600, 0x2601, 0x2604, 0x2605, 0x2800, 0x2a00, 0x2a01, 0x2a02, 0x2a03, 0x2a0a];

const group = (rng: Rng): string => (1 + (rng.u32() % 0xffff)).toString(16);

export function randomIPv6(rng: Rng): string {
  const head = `${rng.pick(V6_PREFIXES).toString(16)}:${group(rng)}:${group(rng)}:${group(rng)}`;
  // Home and mobile clients use random interface ids (privacy addresses);
  // servers and VPN exits often end in a small number after `::`.
  if (rng.chance(0.8)) return `${head}:${group(rng)}:${group(rng)}:${group(rng)}:${group(rng)}`;
  return `${head}::${(1 + (rng.u32() % 0xff)).toString(16)}`;
}

/** Hands out addresses that no other client of the run has. */
export class AddressPool {
  private readonly used = new Set<string>();

  take(rng: Rng, ipv6: boolean): string {
    for (;;) {
      const ip = ipv6 ? randomIPv6(rng) : randomIPv4(rng);
      // The CDN's range is the CDN's: no ordinary client is drawn inside it.
      if (!this.used.has(ip) && !isCdnAddress(ip)) {
        this.used.add(ip);
        return ip;
      }
    }
  }

  /** An address drawn by `draw` (inside some operator's range), unique within the run. */
  takeFrom(rng: Rng, draw: (rng: Rng) => string): string {
    for (;;) {
      const ip = draw(rng);
      if (!this.used.has(ip)) {
        this.used.add(ip);
        return ip;
      }
    }
  }

  get size(): number {
    return this.used.size;
  }
}

// ---- the harder corpus's operators: crawlers with DNS, a CDN ---------------------

/** Crawler owners whose addresses the evaluation's DNS answers for: where they crawl from, and the name they give. */
export interface CrawlerOwner {
  crawler: 'googlebot' | 'bingbot' | 'applebot';
  ua: string;
  address: (rng: Rng) => string;
  /** The forward-confirmable reverse name, inside the owner's documented domain. */
  dnsName: (ip: string) => string;
}

const dashed = (ip: string): string => ip.replace(/[.:]/g, '-');

export const CRAWLER_OWNERS: readonly CrawlerOwner[] = [
  {
    crawler: 'googlebot',
    ua: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    address: (r) => (r.chance(0.8) ? `66.249.${r.int(64, 79)}.${r.int(1, 254)}` : `2001:4860:4801:${r.int(1, 0x7f).toString(16)}::${r.int(1, 0xff).toString(16)}`),
    dnsName: (ip) => `crawl-${dashed(ip)}.googlebot.com`,
  },
  {
    crawler: 'bingbot',
    ua: 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
    address: (r) => `${r.pick(['157.55.39', '40.77.167', '207.46.13'])}.${r.int(1, 254)}`,
    dnsName: (ip) => `msnbot-${dashed(ip)}.search.msn.com`,
  },
  {
    crawler: 'applebot',
    ua: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)',
    address: (r) => `17.${r.int(241, 246)}.${r.int(0, 255)}.${r.int(1, 254)}`,
    dnsName: (ip) => `${dashed(ip)}.applebot.apple.com`,
  },
];

/**
 * The reverse name a known crawler's owner gives one of its addresses, for the
 * user agents the generator sends (loadtest's mirror of the detector's
 * shipped list, services/detector/crawlers/known.json); undefined when the
 * user agent claims none of them (AhrefsBot: not a verified crawler).
 */
export function crawlerDnsName(ua: string, ip: string): string | undefined {
  if (/Googlebot/.test(ua)) return `crawl-${dashed(ip)}.googlebot.com`;
  if (/bingbot/i.test(ua)) return `msnbot-${dashed(ip)}.search.msn.com`;
  if (/Applebot/.test(ua)) return `${dashed(ip)}.applebot.apple.com`;
  if (/YandexBot/.test(ua)) return `spider-${dashed(ip)}.yandex.com`;
  if (/DuckDuckBot/.test(ua)) return `crawler-${dashed(ip)}.duckduckgo.com`;
  return undefined;
}

/**
 * A CDN's egress range: its nodes relay visitors and name them in
 * X-Forwarded-For. The evaluation trusts it (ingest.trusted_proxies); the
 * combined format, which has no X-Forwarded-For, is written as nginx's realip
 * module (set_real_ip_from this range) would log it.
 */
export const CDN_RANGES: readonly string[] = ['104.16.248.0/24'];

export function isCdnAddress(ip: string): boolean {
  return ip.startsWith('104.16.248.');
}

export function cdnAddress(rng: Rng): string {
  return `104.16.248.${rng.int(1, 254)}`;
}

/** A private address a client's own proxy may put in X-Forwarded-For. */
export function privateIPv4(rng: Rng): string {
  return rng.chance(0.5) ? `192.168.${rng.int(0, 20)}.${rng.int(2, 254)}` : `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(2, 254)}`;
}
