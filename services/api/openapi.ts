// The OpenAPI 3 document, generated from the route schemas the server
// validates with (no second description to drift), and a small docs page
// that renders it.
import { DURATION_PATTERN } from '../../shared/config/duration.js';
import { SIZE_PATTERN } from '../../shared/config/size.js';
import { errorSchema } from './errors.js';

export interface RouteDoc {
  method: string;
  url: string;
  schema: Record<string, unknown>;
  auth: string;
}

// JSON Schema keywords OpenAPI 3.0 does not know, and our custom formats, which it passes through as annotations.
function toOpenApiSchema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(toOpenApiSchema);
  if (typeof s !== 'object' || s === null) return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === '$id' || k === '$schema') continue;
    if (k === 'const') {
      out.enum = [v];
      continue;
    }
    // "duration" is a standard format (ISO 8601, "P1D"): a client validating with it would refuse our "24h".
    if (k === 'format' && v === 'duration') {
      out.pattern = DURATION_PATTERN.source;
      continue;
    }
    if (k === 'format' && v === 'size') {
      out.pattern = SIZE_PATTERN.source;
      continue;
    }
    out[k] = k === 'properties' || k === 'patternProperties' ? Object.fromEntries(Object.entries(v as object).map(([pk, pv]) => [pk, toOpenApiSchema(pv)])) : toOpenApiSchema(v);
  }
  // OpenAPI 3.0: nullable instead of type arrays with "null".
  if (Array.isArray(out.type) && (out.type as unknown[]).includes('null')) {
    const rest = (out.type as string[]).filter((t) => t !== 'null');
    out.type = rest.length === 1 ? rest[0] : rest;
    out.nullable = true;
  }
  return out;
}

function parameters(schema: Record<string, unknown>, where: 'path' | 'query'): object[] {
  const s = schema[where === 'path' ? 'params' : 'querystring'] as { properties?: Record<string, unknown>; required?: string[] } | undefined;
  if (!s?.properties) return [];
  return Object.entries(s.properties).map(([name, p]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    ...(typeof (p as { description?: unknown }).description === 'string' ? { description: (p as { description: string }).description } : {}),
    schema: toOpenApiSchema(p),
  }));
}

export function buildOpenApi(routes: readonly RouteDoc[], version: string): object {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    if (r.url === '*' || r.url.includes('*')) continue;
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const s = r.schema;
    const responses: Record<string, unknown> = {};
    const declared = (s.response ?? {}) as Record<string, unknown>;
    for (const [code, rs] of Object.entries(declared)) {
      const produces = (s as { produces?: string }).produces ?? 'application/json';
      responses[code] = { description: (rs as { description?: string }).description ?? `HTTP ${code}`, content: { [produces]: { schema: toOpenApiSchema(rs) } } };
    }
    if (Object.keys(responses).length === 0) responses['200'] = { description: 'OK' };
    const errors = ['400', ...(r.auth === 'public' ? [] : ['401', '403', '429']), '500', '503'];
    for (const code of errors) responses[code] ??= { description: `error (HTTP ${code})`, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    if (r.url.includes(':')) responses['404'] ??= { description: 'not found', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: s.summary ?? `${r.method} ${r.url}`,
      ...(typeof s.description === 'string' ? { description: s.description } : {}),
      tags: s.tags ?? ['security'],
      parameters: [...parameters(s, 'path'), ...parameters(s, 'query')],
      responses,
      ...(r.auth === 'public' ? { security: [] } : { 'x-logwarden-role': r.auth }),
    };
    if (s.body) op.requestBody = { required: true, content: { 'application/json': { schema: toOpenApiSchema(s.body) } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'logwarden management API',
      version,
      description:
        'Compatible with the FlatRun security module API. Send `Authorization: Bearer <token>`; the analyst role reads, the admin role also changes. Errors are JSON `{ "error", "code", "field"? }`.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: toOpenApiSchema(errorSchema) },
    },
    security: [{ bearer: [] }],
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
}

/** A self-contained page: no external scripts, renders /api/openapi.json. */
export function docsPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>logwarden API</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1f24}
h2{margin-top:2rem;border-bottom:1px solid #ddd}
.op{margin:.6rem 0;padding:.5rem .8rem;border:1px solid #e3e3e3;border-radius:6px}
.m{display:inline-block;min-width:4.5rem;font-weight:700}
.GET{color:#0a6} .POST{color:#06c} .PUT{color:#a60} .DELETE{color:#c22}
code,pre{background:#f6f8fa;border-radius:4px;padding:.1rem .3rem}
pre{padding:.5rem;overflow:auto;font-size:12px}
.role{float:right;color:#666;font-size:12px}
</style></head><body>
<h1>logwarden management API</h1>
<p>Machine-readable: <a href="/api/openapi.json">/api/openapi.json</a>. Every call but the probes needs <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<div id="ops">Loading…</div>
<script src="/api/docs.js"></script>
</body></html>`;
}

export function docsScript(): string {
  return `(async () => {
  const doc = await (await fetch('/api/openapi.json')).json();
  const root = document.getElementById('ops');
  root.textContent = '';
  const byTag = {};
  for (const [path, ops] of Object.entries(doc.paths)) for (const [m, op] of Object.entries(ops)) (byTag[op.tags[0]] ||= []).push([m.toUpperCase(), path, op]);
  for (const [tag, ops] of Object.entries(byTag)) {
    const h = document.createElement('h2'); h.textContent = tag; root.append(h);
    for (const [m, path, op] of ops) {
      const d = document.createElement('div'); d.className = 'op';
      const role = document.createElement('span'); role.className = 'role'; role.textContent = op['x-logwarden-role'] || 'public';
      const mm = document.createElement('span'); mm.className = 'm ' + m; mm.textContent = m;
      const p = document.createElement('code'); p.textContent = path;
      const s = document.createElement('div'); s.textContent = op.summary || '';
      d.append(role, mm, p, s);
      if (op.requestBody) { const pre = document.createElement('pre'); pre.textContent = JSON.stringify(op.requestBody.content['application/json'].schema, null, 1); d.append(pre); }
      root.append(d);
    }
  }
})();`;
}
