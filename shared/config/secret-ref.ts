// A secret (or a URL that is one) named by an environment variable or a file,
// never written in the YAML: the variable wins when set and not empty; a file
// that cannot be read is a config issue naming the key, not a silent ''.
import { readFileSync } from 'node:fs';
import type { ConfigIssue } from './errors.js';

/** The value of `envName`, else the trimmed content of `file`, else ''; an unreadable file is pushed to `issues` under `path`. */
export function readSecretRef(env: NodeJS.ProcessEnv, envName: string, file: string, path: string, issues: ConfigIssue[]): string {
  const v = envName ? env[envName] : undefined;
  if (v !== undefined && v !== '') return v;
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      issues.push({ path, reason: `cannot read ${file}: ${(err as Error).message}` });
    }
  }
  return '';
}
