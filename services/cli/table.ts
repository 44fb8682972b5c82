// Plain-text output for operators: aligned columns, times in UTC.
//
// Every value shown comes, in the end, from traffic an attacker controls (a
// path, a user agent turned into a reason, a deployment name): control
// characters are replaced before they reach a terminal, so an escape sequence
// in a log line cannot rewrite the operator's screen.

/** `s` with C0/C1 control characters and DEL shown as "?" (tabs and newlines too: one value, one line). */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

/** Epoch ms as an ISO 8601 UTC time to the second; "-" for none. */
export function when(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  const cell = (c: unknown): string => {
    if (c === null || c === undefined || c === '') return '-';
    return typeof c === 'string' ? c : typeof c === 'number' || typeof c === 'boolean' ? String(c) : JSON.stringify(c);
  };
  const cells = [header.map(String), ...rows.map((r) => r.map((c) => printable(cell(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return `${cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n')}\n`;
}
