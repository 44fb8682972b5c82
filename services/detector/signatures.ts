// Request signatures: known attack tools' user agents, probes for sensitive
// files, traversal and injection markers. The shipped set is versioned (the
// version goes into every event's details); operators add their own in
// `detection.signatures`. Each hit is an event `signature:<id>`; its weight
// counts toward auto_block_threshold (a known attack tool's user agent weighs
// the whole threshold by default: it blocks at once).

export const SIGNATURE_SET_VERSION = '2026.11.2';

export type SignatureField = 'user_agent' | 'path' | 'query' | 'path_or_query';

export interface Signature {
  id: string;
  field: SignatureField;
  /** A regular expression source, matched case-insensitively. */
  pattern: string;
  /** `scan_detected` for tools and probes, `suspicious` for payload markers. */
  type: 'scan_detected' | 'suspicious';
  /** Weight toward auto_block_threshold; `block` means the whole threshold. */
  weight: number | 'block';
  description: string;
}

export const SHIPPED_SIGNATURES: readonly Signature[] = [
  { id: 'ua-sqlmap', field: 'user_agent', pattern: 'sqlmap', type: 'scan_detected', weight: 'block', description: 'sqlmap SQL injection tool' },
  { id: 'ua-nikto', field: 'user_agent', pattern: 'nikto', type: 'scan_detected', weight: 'block', description: 'Nikto web scanner' },
  { id: 'ua-nmap', field: 'user_agent', pattern: 'nmap scripting engine|\\bnmap\\b', type: 'scan_detected', weight: 'block', description: 'Nmap NSE' },
  { id: 'ua-masscan', field: 'user_agent', pattern: 'masscan', type: 'scan_detected', weight: 'block', description: 'masscan' },
  { id: 'ua-zgrab', field: 'user_agent', pattern: 'zgrab', type: 'scan_detected', weight: 'block', description: 'ZGrab scanner' },
  { id: 'ua-wpscan', field: 'user_agent', pattern: 'wpscan', type: 'scan_detected', weight: 'block', description: 'WPScan' },
  { id: 'ua-dirbuster', field: 'user_agent', pattern: 'dirbuster|gobuster|\\bdirb\\b|feroxbuster|ffuf', type: 'scan_detected', weight: 'block', description: 'directory brute forcers' },
  { id: 'ua-nuclei', field: 'user_agent', pattern: 'nuclei|acunetix|netsparker|qualys|openvas|w3af|burp', type: 'scan_detected', weight: 'block', description: 'vulnerability scanners' },
  { id: 'ua-hydra', field: 'user_agent', pattern: '\\bhydra\\b|medusa', type: 'scan_detected', weight: 'block', description: 'login brute forcers' },
  // A request for a secrets file is reconnaissance on its own: two of them reach the default threshold.
  { id: 'file-env', field: 'path', pattern: '/\\.env(\\.|$)', type: 'scan_detected', weight: 25, description: '.env secrets probe' },
  { id: 'file-git', field: 'path', pattern: '/\\.(git|svn|hg)(/|$)', type: 'scan_detected', weight: 25, description: 'VCS metadata probe' },
  { id: 'file-wp-config', field: 'path', pattern: '/wp-config\\.php', type: 'scan_detected', weight: 25, description: 'WordPress config probe' },
  { id: 'file-backup', field: 'path', pattern: '\\.(bak|old|orig|swp|save|sql|tar|tgz|tar\\.gz|zip|7z|rar)$|~$', type: 'scan_detected', weight: 10, description: 'backup and dump files' },
  { id: 'file-secrets', field: 'path', pattern: '/(id_rsa|id_dsa|\\.htpasswd|\\.htaccess|\\.aws/credentials|\\.ssh/|\\.docker/config\\.json|\\.DS_Store|server-status|phpinfo\\.php)', type: 'scan_detected', weight: 25, description: 'credential and server info probes' },
  { id: 'traversal', field: 'path_or_query', pattern: '\\.\\./|\\.\\.\\\\|%2e%2e|%252e|\\.\\.%2f|%c0%ae|/etc/passwd|/proc/self/', type: 'suspicious', weight: 20, description: 'path traversal' },
  { id: 'sqli', field: 'query', pattern: "union(\\s|\\+|%20|/\\*.*?\\*/)+(all(\\s|\\+|%20)+)?select|('|%27)(\\s|\\+|%20)*(or|and)(\\s|\\+|%20)+('|%27)?\\d|sleep\\(\\d|benchmark\\(|information_schema", type: 'suspicious', weight: 20, description: 'SQL injection markers' },
  { id: 'xss', field: 'path_or_query', pattern: '<script|%3cscript|javascript:|onerror\\s*=|onload\\s*=', type: 'suspicious', weight: 10, description: 'cross-site scripting markers' },
  { id: 'cmdi', field: 'query', pattern: '(;|%3b|\\||%7c|`|\\$\\()\\s*(cat|wget|curl|bash|sh|nc|id)(\\s|%20|\\+|$)', type: 'suspicious', weight: 20, description: 'command injection markers' },
  { id: 'log4shell', field: 'path_or_query', pattern: '\\$\\{jndi:|%24%7bjndi', type: 'suspicious', weight: 'block', description: 'Log4Shell JNDI lookup' },
];

export interface SignatureHit {
  sig: Signature;
}

/**
 * The signatures compiled once into one alternation per field, so a clean
 * request costs three regular-expression tests whatever the set's size; only
 * a match looks for which signature it was.
 */
export class SignatureMatcher {
  private readonly byField = new Map<'user_agent' | 'path' | 'query', { any: RegExp; each: Array<{ sig: Signature; re: RegExp }> }>();

  constructor(readonly signatures: readonly Signature[]) {
    for (const field of ['user_agent', 'path', 'query'] as const) {
      const mine = signatures.filter((s) => s.field === field || (s.field === 'path_or_query' && field !== 'user_agent'));
      if (mine.length === 0) continue;
      this.byField.set(field, {
        any: new RegExp(mine.map((s) => `(?:${s.pattern})`).join('|'), 'i'),
        each: mine.map((s) => ({ sig: s, re: new RegExp(s.pattern, 'i') })),
      });
    }
  }

  /** Signatures matched by this request (each at most once). */
  match(userAgent: string, path: string, query: string): Signature[] {
    let out: Signature[] | undefined;
    const check = (field: 'user_agent' | 'path' | 'query', value: string): void => {
      const f = this.byField.get(field);
      if (!f || value === '' || !f.any.test(value)) return;
      for (const { sig, re } of f.each) {
        if (re.test(value) && !out?.includes(sig)) (out ??= []).push(sig);
      }
    };
    check('user_agent', userAgent);
    check('path', path);
    check('query', query);
    return out ?? [];
  }
}

/** Validates operator signatures; returns problems as "index: reason". */
export function signatureProblems(list: readonly Signature[]): string[] {
  const problems: string[] = [];
  const ids = new Set(SHIPPED_SIGNATURES.map((s) => s.id));
  list.forEach((s, i) => {
    if (ids.has(s.id)) problems.push(`[${i}].id: "${s.id}" is already used`);
    ids.add(s.id);
    try {
      new RegExp(s.pattern, 'i');
    } catch (err) {
      problems.push(`[${i}].pattern: ${(err as Error).message}`);
    }
  });
  return problems;
}
