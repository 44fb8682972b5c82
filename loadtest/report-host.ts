// Whether the report ran on another host than the report it replaces. Figures
// of one host do not compare with another's: a report once moved from an Intel
// Xeon to an AMD EPYC virtual machine, where work that crosses the kernel cost
// 2-3× more, and every absolute figure fell while the ratios to the peers held.
// Said at the top of the report, so nobody reads a new host as a regression.

/** What names a host in report.json's machine table. */
const HOST_KEYS = ['cpu', 'cores', 'os'] as const;

/** The previous report's host and commit, when it differs from `current`; undefined when the same or unknown. */
export function hostChange(previous: unknown, current: Record<string, unknown>): { commit: string; differs: string[] } | undefined {
  if (typeof previous !== 'object' || previous === null) return undefined;
  const prev = previous as { commit?: unknown; machine?: Record<string, unknown> };
  if (typeof prev.machine !== 'object' || prev.machine === null) return undefined;
  const before = prev.machine;
  const text = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v) ?? 'none');
  const differs = HOST_KEYS.filter((k) => before[k] !== undefined && text(before[k]) !== text(current[k])).map((k) => `${k} ${text(before[k])} → ${text(current[k])}`);
  return differs.length === 0 ? undefined : { commit: typeof prev.commit === 'string' ? prev.commit : 'unknown', differs };
}
