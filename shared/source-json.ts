// Data files shipped in the source tree (a signature set, the crawler list)
// read from a module's own location: from its source file when run with a
// loader, from dist/ (which sits beside the source tree) when built.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The first of `candidates` (relative to `moduleUrl`) that exists, parsed; `missing()` when none does. */
export function readSourceJson<T>(moduleUrl: string, candidates: readonly string[], missing: (from: string) => Error): T {
  for (const rel of candidates) {
    try {
      return JSON.parse(readFileSync(fileURLToPath(new URL(rel, moduleUrl)), 'utf8')) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw missing(fileURLToPath(moduleUrl));
}
