// The shared security_filter vectors (schemas/security-filter/vectors.json and
// invalid.json), typed once for every test that runs them: the TypeScript
// engine's, the Lua module's at a real nginx, and the validators' parity test.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RuleSet, SecurityFilterRequest } from '../security-filter/index.js';

export interface VectorExpect {
  action: 'none' | 'warn' | 'challenge' | 'block';
  status?: number;
  rule_id?: string;
  matched?: string[];
}

export interface Vector {
  name: string;
  rule_set: RuleSet | null;
  requests: Array<{ request: SecurityFilterRequest; expect: VectorExpect }>;
}

export interface InvalidVector {
  name: string;
  rule_set: unknown;
  error_path: string;
  schema?: false;
}

const file = (name: string): string => fileURLToPath(new URL(`../../../schemas/security-filter/${name}`, import.meta.url));

export const filterVectors = (): Vector[] => JSON.parse(readFileSync(file('vectors.json'), 'utf8')) as Vector[];
export const invalidFilterVectors = (): InvalidVector[] => JSON.parse(readFileSync(file('invalid.json'), 'utf8')) as InvalidVector[];
