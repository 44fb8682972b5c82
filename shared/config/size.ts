// Sizes in the config are written with their unit: "512KiB", "16MiB", "1GiB"
// (also "100B", and the decimal "kB", "MB", "GB").

const UNIT_BYTES: Record<string, number> = { B: 1, kB: 1e3, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 };

export const SIZE_PATTERN = /^(\d+)(B|kB|KiB|MB|MiB|GB|GiB)$/;

/** Bytes of a size string, or undefined when it is not one. */
export function parseSize(text: string): number | undefined {
  const m = SIZE_PATTERN.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]) * (UNIT_BYTES[m[2] as string] as number);
  return Number.isSafeInteger(n) ? n : undefined;
}
