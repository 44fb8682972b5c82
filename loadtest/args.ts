// Command-line numbers of the benches, refused with a usage error when they are not.

/** A whole number ≥ `min` ("200_000" reads as 200000); exits 2 naming the option otherwise. */
export function intArg(v: string, name: string, min: number): number {
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < min) {
    console.error(`--${name} must be an integer >= ${min}, got "${v}"`);
    process.exit(2);
  }
  return n;
}
