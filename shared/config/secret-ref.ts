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

/**
 * Before schema validation: the objects of `<section>.targets`, each with its
 * path. A key among `keys` (one that would hold a secret in clear text) is
 * removed and named in `issues`, with `instead` saying where the secret goes.
 */
export function targetsWithoutInlineSecrets(
  doc: Record<string, unknown>,
  section: string,
  keys: readonly string[],
  instead: string,
  issues: ConfigIssue[],
): Array<{ target: Record<string, unknown>; at: string }> {
  const s = doc[section];
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return [];
  const targets = (s as Record<string, unknown>).targets;
  if (!Array.isArray(targets)) return [];
  const out: Array<{ target: Record<string, unknown>; at: string }> = [];
  targets.forEach((t: unknown, i) => {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) return;
    const target = t as Record<string, unknown>;
    const at = `${section}.targets[${i}]`;
    for (const key of keys) {
      if (key in target) {
        issues.push({ path: `${at}.${key}`, reason: `secrets are never written in the config file: ${instead}` });
        delete target[key];
      }
    }
    out.push({ target, at });
  });
  return out;
}
