// The configuration reference, generated from the schema, so the README table
// cannot drift from the defaults the code applies (config.test.ts compares them).
import { configSchema } from './schema.js';

interface Node {
  type?: string;
  default?: unknown;
  description?: string;
  format?: string;
  enum?: unknown[];
  properties?: Record<string, Node>;
  items?: Node;
}

export interface ReferenceRow {
  key: string;
  default: string;
  description: string;
}

function show(v: unknown): string {
  if (typeof v === 'string') return v === '' ? '""' : v;
  return JSON.stringify(v);
}

export function configReference(): ReferenceRow[] {
  const rows: ReferenceRow[] = [];
  const walk = (node: Node, path: string): void => {
    if (node.type === 'object' && node.properties) {
      for (const [k, child] of Object.entries(node.properties)) walk(child, path ? `${path}.${k}` : k);
      return;
    }
    const desc = node.enum ? `${node.description ?? ''} (${node.enum.map(show).join(' \\| ')})` : (node.description ?? '');
    rows.push({ key: path, default: show(node.default), description: desc });
  };
  walk(configSchema, '');
  return rows;
}

export function configReferenceMarkdown(): string {
  const lines = ['| key | default | meaning |', '|---|---|---|'];
  for (const r of configReference()) lines.push(`| \`${r.key}\` | \`${r.default}\` | ${r.description} |`);
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('reference.js')) process.stdout.write(`${configReferenceMarkdown()}\n`);
