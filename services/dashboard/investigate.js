// The investigation view and the query console of the SOC dashboard.
// Investigate: everything logwarden knows about one address (or a CIDR): the
// blocks in force holding it, whether it is a crawler DNS verified (or one
// whose claim DNS refuted: GET /api/security/crawlers/<ip>), its story
// (hourly totals, latest events, every block and unblock with who and why:
// the saved query address_story), its events by detector, and its captured
// requests. Console: the saved queries with their parameters, or ad-hoc SQL
// (POST /api/soc/query), as a table with a CSV download. Every value goes
// into the page as text, never as markup.
/* global document, window, Blob, URLSearchParams */
import { api } from './api.js';

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = typeof text === 'string' ? text : JSON.stringify(text);
  if (cls) e.className = cls;
  return e;
}

/** A result ({ columns, rows }) as a table: one header row, one row per result row. */
function resultTable(table, result) {
  const head = document.createElement('tr');
  for (const c of result.columns) head.append(el('th', c.name));
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(...result.rows.map((r) => {
    const tr = document.createElement('tr');
    for (const c of result.columns) tr.append(el('td', r[c.name] === null || r[c.name] === undefined ? '' : r[c.name]));
    return tr;
  }));
}

/** A CSV field (RFC 4180); a cell a spreadsheet would run as a formula gets a leading '. */
function csvField(v) {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

function toCsv(result) {
  const lines = [result.columns.map((c) => csvField(c.name)).join(',')];
  for (const r of result.rows) lines.push(result.columns.map((c) => csvField(r[c.name])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

// ------------------------------------------------------------------ investigate

const isCidr = (s) => s.includes('/');

async function sql(text, params) {
  return (await api('/api/soc/query', { method: 'POST', body: { sql: text, params } })).data;
}

/** The crawler line: "Verified crawler: Googlebot (name)", "claims Googlebot — DNS says no", or nothing. */
function crawlerLine(v) {
  if (!v) return '';
  // The shipped list names crawlers in lower case (googlebot): shown as a name.
  const name = v.crawler.charAt(0).toUpperCase() + v.crawler.slice(1);
  if (v.status === 'verified') return `Verified crawler: ${name}${v.hostname ? ` (${v.hostname})` : ''}`;
  return `claims ${name} — DNS says no`;
}

/** Shows what logwarden knows about `target` (an address or a CIDR). */
export async function investigate(target) {
  const t = target.trim();
  if (!t) return;
  $('inv-target').value = t;
  $('inv-error').textContent = '';
  $('investigation').classList.remove('hidden');
  $('inv-title').textContent = t;
  const q = new URLSearchParams({ ip: t, limit: '50' });
  $('inv-crawler').textContent = '';
  $('inv-crawler-row').classList.add('hidden');
  // The SQL parts one after the other: soc.max_concurrent_queries_per_token (2 by default) counts this tab too.
  const parts = {
    blocks: () => api(`/api/security/blocked-ips?${q.toString()}`).then((b) => {
      $('inv-block').textContent = b.data.length === 0 ? 'not blocked now' : b.data.map((x) => `blocked (${x.ip}, ${x.source}): ${x.reason}; ${x.expires_at ? `until ${new Date(x.expires_at).toISOString()}` : 'permanent'}`).join(' · ');
    }),
    crawler: () => isCidr(t)
      ? Promise.resolve()
      : api(`/api/security/crawlers/${encodeURIComponent(t)}`).then((r) => {
        const line = crawlerLine(r.data.verified_crawler);
        $('inv-crawler').textContent = line;
        $('inv-crawler-row').classList.toggle('hidden', line === '');
      }),
    story: () => isCidr(t)
      ? api(`/api/security/events?${q.toString()}`).then((p) => resultTable($('inv-story'), {
        columns: [{ name: 'ts' }, { name: 'kind' }, { name: 'what' }, { name: 'by' }, { name: 'deployment' }, { name: 'detail' }],
        rows: p.data.map((e) => ({ ts: new Date(e.ts).toISOString(), kind: 'event', what: e.type, by: e.detector, deployment: e.deployment, detail: `${e.ip} count=${e.count}` })),
      }))
      : api('/api/soc/queries/address_story/run', { method: 'POST', body: { params: { ip: t } } }).then((r) => resultTable($('inv-story'), r.data)),
    detectors: () => isCidr(t)
      ? Promise.resolve(resultTable($('inv-detectors'), { columns: [], rows: [] }))
      : sql('SELECT detector, toString(type) AS type, count() AS events, sum(count) AS requests, min(ts) AS first_seen, max(ts) AS last_seen FROM events WHERE ip = {ip:IPv6} GROUP BY detector, type ORDER BY events DESC', { ip: t }).then((r) => resultTable($('inv-detectors'), r)),
    requests: () => isCidr(t)
      ? Promise.resolve(resultTable($('inv-requests'), { columns: [], rows: [] }))
      : sql('SELECT ts, deployment, method, host, path, status, user_agent, ifNull(country, \'\') AS country, ifNull(blocked_by, \'\') AS blocked_by FROM requests WHERE client_ip = {ip:IPv6} ORDER BY ts DESC LIMIT 100', { ip: t }).then((r) => {
        resultTable($('inv-requests'), r);
        // Country of the address, as its captured requests saw it (events carry no country yet).
        const countries = [...new Set(r.rows.map((x) => x.country).filter(Boolean))];
        $('inv-country').textContent = countries.length > 0 ? countries.join(', ') : 'unknown (no captured request with a country)';
      }),
  };
  const results = [];
  const settle = (p) => p.then(() => ({ status: 'fulfilled' }), (reason) => ({ status: 'rejected', reason }));
  // The API-only parts run beside the SQL ones (no SQL of their own).
  const blocks = settle(parts.blocks());
  const crawler = settle(parts.crawler());
  for (const part of [parts.story, parts.detectors, parts.requests]) {
    results.push(await part().then(() => ({ status: 'fulfilled' }), (reason) => ({ status: 'rejected', reason })));
  }
  results.push(await blocks, await crawler);
  const failed = results.find((r) => r.status === 'rejected');
  $('inv-error').textContent = failed ? String(failed.reason?.message ?? failed.reason) : '';
  $('investigation').dataset.loaded = t;
}

// ------------------------------------------------------------------ console

let saved = [];
let lastResult;

/** The {name:Type} placeholders of ad-hoc SQL, as parameters to fill. */
function placeholders(text) {
  const out = new Map();
  for (const m of text.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*):([^}]+)\}/g)) if (!out.has(m[1])) out.set(m[1], { name: m[1], type: m[2].trim() });
  return [...out.values()];
}

function renderParams(params) {
  const box = $('console-params');
  const kept = new Map([...box.querySelectorAll('input')].map((i) => [i.dataset.param, i.value]));
  box.replaceChildren(...params.map((p) => {
    const label = el('label', `${p.name} (${p.type})`);
    const input = el('input');
    input.dataset.param = p.name;
    input.placeholder = p.default ?? 'required';
    input.title = p.description ?? '';
    input.spellcheck = false;
    input.value = kept.get(p.name) ?? '';
    label.append(input);
    return label;
  }));
}

function paramInputs(q) {
  $('console-params').replaceChildren();
  $('console-sql').value = q ? q.sql : '';
  $('console-sql').readOnly = Boolean(q);
  renderParams(q ? q.params : []);
}

export async function loadConsole() {
  saved = (await api('/api/soc/queries')).data;
  const select = $('console-saved');
  const adhoc = el('option', 'ad-hoc SQL');
  adhoc.value = '';
  select.replaceChildren(adhoc, ...saved.map((q) => {
    const o = el('option', `${q.name}: ${q.title}`);
    o.value = q.name;
    return o;
  }));
  paramInputs(undefined);
}

async function runConsole() {
  const name = $('console-saved').value;
  const params = {};
  for (const input of $('console-params').querySelectorAll('input')) if (input.value !== '') params[input.dataset.param] = input.value;
  $('console-error').textContent = '';
  $('console-status').textContent = 'running…';
  try {
    const r = name
      ? (await api(`/api/soc/queries/${encodeURIComponent(name)}/run`, { method: 'POST', body: { params } })).data
      : (await api('/api/soc/query', { method: 'POST', body: { sql: $('console-sql').value, params } })).data;
    lastResult = r;
    resultTable($('console-result'), r);
    $('console-status').textContent = `${r.rows.length} rows in ${r.elapsed_ms} ms`;
    $('console-csv').disabled = false;
  } catch (e) {
    $('console-status').textContent = '';
    $('console-error').textContent = String(e.message ?? e);
  }
}

function downloadCsv() {
  if (!lastResult) return;
  const url = URL.createObjectURL(new Blob([toCsv(lastResult)], { type: 'text/csv' }));
  const a = el('a');
  a.href = url;
  a.download = `${$('console-saved').value || 'query'}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function wireInvestigation() {
  $('inv-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void investigate($('inv-target').value);
  });
  $('console-saved').addEventListener('change', () => paramInputs(saved.find((q) => q.name === $('console-saved').value)));
  $('console-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void runConsole();
  });
  $('console-csv').addEventListener('click', downloadCsv);
  // Ad-hoc SQL: a field for each {name:Type} placeholder as it is typed.
  $('console-sql').addEventListener('input', () => {
    if (!$('console-saved').value) renderParams(placeholders($('console-sql').value));
  });
}
