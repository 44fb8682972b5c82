// Tests that need a tool a machine may lack (a browser, network namespaces,
// an attack tool) skip without it on a developer's machine, saying what is
// missing. In CI a skip would let a run pass without ever running them, so
// under CI=true the missing tool fails instead, naming it. Every such skip
// goes through requireTool(); the `--unit` run's skips (unitOnly()) are a
// choice of run, not a missing tool, and stay skips.

/** True in CI (CI=true, as CI services set it; 1 also counts). */
export function ciRun(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

/**
 * For a test's `skip` option: false when the tool is `available`; otherwise
 * `missing` (what is missing and how to get it) as the skip reason, or, under
 * CI=true, a thrown error with that text, which fails the test file.
 */
export function requireTool(missing: string, available: boolean): string | false {
  if (available) return false;
  if (ciRun()) throw new Error(`CI=true and a test's tool is missing, so it fails instead of skipping: ${missing}`);
  return missing;
}
