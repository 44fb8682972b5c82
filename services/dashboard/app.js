// The SOC dashboard: reads the management API with the tab's token, redraws
// every few seconds, and adds events live from the event stream. Every value
// from the API goes into the page as text (textContent), never as markup:
// event paths and user agents are the attackers' own strings.
/* global document, window, clearTimeout, setInterval, clearInterval, AbortController, URLSearchParams */
import { api, AuthError, setToken, sse, token } from './api.js';
import { drawChart, TYPE_COLORS } from './chart.js';
import { investigate, loadConsole, wireInvestigation } from './investigate.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 10_000;
const MAX_EVENT_ROWS = 100;

let role = 'analyst';
let refreshTimer;
let streamAbort;
let soon;

// ------------------------------------------------------------------ helpers

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    if (c instanceof window.Node) {
      const td = document.createElement('td');
      td.append(c);
      tr.append(td);
    } else tr.append(el('td', c));
  }
  return tr;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function time(ms) {
  if (ms === null || ms === undefined) return '';
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

function expiry(ms) {
  if (ms === null || ms === undefined) return 'permanent';
  const left = ms - Date.now();
  if (left <= 0) return 'expired';
  const m = Math.round(left / 60_000);
  return m < 60 ? `in ${m} min` : m < 48 * 60 ? `in ${Math.round(m / 60)} h` : `in ${Math.round(m / 1440)} d`;
}

function typeChip(type) {
  const s = el('span', type, `chip t-${type}`);
  return s;
}

function showError(e) {
  if (e instanceof AuthError) {
    signOut('The token was refused. Sign in again.');
    return;
  }
  $('error').textContent = e ? String(e.message ?? e) : '';
}

// ------------------------------------------------------------------ sign in / out

function signOut(message) {
  setToken('');
  streamAbort?.abort();
  clearInterval(refreshTimer);
  $('main').classList.add('hidden');
  $('signout').classList.add('hidden');
  $('login').classList.remove('hidden');
  $('whoami').textContent = '';
  $('login-error').textContent = message ?? '';
  setLive(false);
}

async function signIn() {
  try {
    const me = await api('/api/whoami');
    role = me.data.role;
    $('whoami').textContent = `${me.data.name} (${role})`;
    document.body.dataset.role = role;
  } catch (e) {
    signOut(e instanceof AuthError ? 'The token was refused.' : String(e.message ?? e));
    return;
  }
  $('login').classList.add('hidden');
  $('main').classList.remove('hidden');
  $('signout').classList.remove('hidden');
  void loadConsole().catch(showError);
  await refresh();
  clearInterval(refreshTimer);
  refreshTimer = setInterval(() => void refresh(), REFRESH_MS);
  void follow();
}

// ------------------------------------------------------------------ panels

async function loadStats() {
  const s = (await api('/api/security/stats?window_hours=24&top=10')).data;
  $('c-events').textContent = String(s.total_events);
  $('c-blocks').textContent = String(s.active_blocks ?? s.blocked_ips);
  const chips = Object.entries(s.events_by_type).map(([type, n]) => {
    const c = typeChip(type);
    c.append(el('b', n));
    return c;
  });
  $('c-types').replaceChildren(...chips);
  fill($('top-ips').tBodies[0], s.top_offending_ips.map((r) => row([ipLink(r.ip), r.events, r.requests])));
}

function ipLink(ip) {
  const a = el('button', ip, 'link');
  a.type = 'button';
  a.title = 'investigate this address, and show its events';
  a.addEventListener('click', () => {
    $('f-ip').value = ip;
    void loadEvents();
    void investigate(ip);
  });
  return a;
}

async function loadTop() {
  const t = (await api('/api/dashboard/top?hours=24&top=10')).data;
  fill($('top-paths').tBodies[0], t.paths.map((p) => row([el('code', p.path), p.events])));
  fill($('top-countries').tBodies[0], t.countries.map((c) => row([c.country ?? 'unknown', c.events, c.requests])));
  fill($('top-asns').tBodies[0], t.asns.map((a) => row([a.asn === null ? 'unknown' : `AS${a.asn}`, a.as_org ?? '', a.events, a.requests])));
}

async function loadChart() {
  const long = $('range').value === '24h';
  const stepMs = long ? 3_600_000 : 60_000;
  const to = Date.now();
  const from = to - (long ? 24 * 3_600_000 : 3_600_000);
  const ts = (await api(`/api/security/stats/timeseries?step=${long ? 'hour' : 'minute'}&from=${from}&to=${to}`)).data;
  drawChart($('chart'), ts.events, from, to, stepMs);
  const legend = Object.keys(TYPE_COLORS).map((type) => typeChip(type));
  $('legend').replaceChildren(...legend);
}

async function loadBlocks() {
  const b = await api('/api/security/blocked-ips?limit=200');
  const rows = b.data.map((blk) => {
    const cells = [el('code', blk.ip, 'ip'), blk.reason, blk.action === 'challenge' ? `${blk.source} (challenge)` : blk.source, expiry(blk.expires_at), blk.deployment || 'all'];
    const btn = el('button', 'Unblock', 'unblock');
    btn.type = 'button';
    btn.dataset.ip = blk.ip;
    if (role !== 'admin') {
      btn.disabled = true;
      btn.title = 'needs an admin token';
    }
    btn.addEventListener('click', () => void unblock(blk.ip, btn));
    const tr = row([...cells, btn]);
    tr.dataset.ip = blk.ip;
    return tr;
  });
  fill($('blocks').tBodies[0], rows);
  $('blocks-empty').classList.toggle('hidden', rows.length > 0);
  $('c-blocks').textContent = String(b.total ?? rows.length);
}

async function unblock(ip, btn) {
  btn.disabled = true;
  try {
    // A CIDR's "/" is sent encoded: the route takes it as one segment.
    await api(`/api/security/blocked-ips/${encodeURIComponent(ip)}`, { method: 'DELETE' });
    btn.closest('tr')?.remove();
    void loadBlocks().catch(showError);
  } catch (e) {
    btn.disabled = false;
    showError(e);
  }
}

function eventQuery() {
  const q = new URLSearchParams({ limit: '50' });
  const type = $('f-type').value;
  const ip = $('f-ip').value.trim();
  const dep = $('f-deployment').value.trim();
  if (type) q.set('type', type);
  if (ip) q.set('ip', ip);
  if (dep) q.set('deployment', dep);
  return q;
}

function eventRow(e) {
  const tr = row([time(e.ts), typeChip(e.type), e.detector, ipLink(e.ip), e.deployment, e.count, el('code', (e.sample_paths ?? [])[0] ?? '')]);
  tr.dataset.id = e.id;
  return tr;
}

async function loadEvents() {
  const page = await api(`/api/security/events?${eventQuery().toString()}`);
  fill($('events').tBodies[0], page.data.map(eventRow));
}

function matchesFilters(e) {
  const type = $('f-type').value;
  const ip = $('f-ip').value.trim();
  const dep = $('f-deployment').value.trim();
  // A CIDR filter is left to the server on the next refresh; live rows match exact addresses only.
  return (!type || e.type === type) && (!ip || ip.includes('/') || e.ip === ip) && (!dep || e.deployment === dep);
}

function collectRules(ruleSet) {
  const out = [];
  if (!ruleSet) return out;
  const add = (level, f) => {
    if (!f || !Array.isArray(f.filter_rules)) return;
    const levelAction = f.response_handling?.on_filtered ?? 'WARN';
    for (const r of f.filter_rules) out.push({ id: r.id, level: f.enabled === false ? `${level} (disabled)` : level, action: r.response_handling?.on_filtered ?? levelAction });
  };
  add('property', ruleSet.property);
  for (const [host, f] of Object.entries(ruleSet.domains ?? {})) add(`domain ${host}`, f);
  for (const p of ruleSet.paths ?? []) add(`path ${p.host ?? '*'}${p.path}`, p.security_filter);
  return out;
}

async function loadRules() {
  const rs = (await api('/api/security/filter')).data;
  const rules = collectRules(rs).slice(0, 50);
  const fired = await Promise.all(
    rules.map((r) => api(`/api/security/events?detector=${encodeURIComponent(`filter:${r.id}`)}&limit=100`).then((p) => p.data, () => [])),
  );
  fill($('rules').tBodies[0], rules.map((r, i) => {
    const ev = fired[i] ?? [];
    return row([el('code', r.id), r.level, r.action, ev.length === 100 ? '100+' : ev.length, ev.length > 0 ? time(ev[0].ts) : 'never']);
  }));
  $('rules-empty').classList.toggle('hidden', rules.length > 0);
}

async function loadPipeline() {
  const p = (await api('/api/pipeline/status')).data;
  $('c-rate').textContent = String(p.ingest.rate_per_s);
  const lags = p.lag.filter((l) => l.lag !== null);
  $('c-lag').textContent = lags.length > 0 ? String(lags.reduce((a, l) => a + l.lag, 0)) : '–';
  const reasons = (o) => Object.entries(o).filter(([, n]) => n > 0).map(([k, n]) => `${k}: ${n}`).join(', ') || 'none';
  const kv = [
    ['bus', p.bus],
    ['lines received', p.ingest.received],
    ['parsed / sent to bus', `${p.ingest.parsed} / ${p.ingest.sent}`],
    ['rejected lines', reasons(p.ingest.rejected)],
    ['dropped lines', reasons(p.ingest.dropped)],
    ['detector records', p.detector.records],
    ['tracked addresses', p.detector.tracked_ips],
    ['rows stored', reasons(p.sink.rows)],
    ...p.lag.map((l) => [`lag ${l.group}`, l.lag === null ? 'not running' : l.lag]),
  ];
  fill($('pipeline').tBodies[0], kv.map(([k, v]) => row([k, v])));
  fill($('nodes').tBodies[0], p.nodes.map((n) => row([n.name, el('span', n.synced === null ? 'unknown' : n.synced ? 'in sync' : 'out of sync', n.synced ? 'ok' : 'bad'), n.rules_version_lag ?? '–', n.push_errors])));
  $('nodes-empty').classList.toggle('hidden', p.nodes.length > 0);
}

async function refresh() {
  const parts = [loadStats, loadTop, loadChart, loadBlocks, loadEvents, loadRules, loadPipeline];
  const results = await Promise.allSettled(parts.map((f) => f()));
  const failed = results.find((r) => r.status === 'rejected');
  showError(failed ? failed.reason : undefined);
  document.body.dataset.loaded = 'true';
}

// ------------------------------------------------------------------ live

function setLive(on) {
  const l = $('live');
  l.textContent = on ? '● live' : '● offline';
  l.classList.toggle('off', !on);
}

/** Follows the event stream; reconnects with a growing pause after a drop; stops on sign-out. */
async function follow() {
  streamAbort?.abort();
  const ac = new AbortController();
  streamAbort = ac;
  let pause = 1000;
  while (!ac.signal.aborted && token()) {
    try {
      setLive(true);
      await sse('/api/security/events/stream', (name, e) => {
        if (name !== 'security_event') return;
        pause = 1000;
        if (matchesFilters(e)) {
          const tbody = $('events').tBodies[0];
          tbody.prepend(eventRow(e));
          while (tbody.rows.length > MAX_EVENT_ROWS) tbody.lastElementChild?.remove();
        }
        // Blocks and counters follow events; one refresh for a burst of them.
        clearTimeout(soon);
        soon = setTimeout(() => void Promise.allSettled([loadBlocks(), loadStats(), loadChart()]), 1500);
      }, ac.signal);
    } catch (e) {
      if (e instanceof AuthError) {
        showError(e);
        return;
      }
    }
    setLive(false);
    if (ac.signal.aborted) return;
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 30_000);
  }
}

// ------------------------------------------------------------------ start

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const t = $('token').value.trim();
  $('token').value = '';
  if (!t) return;
  setToken(t);
  void signIn();
});
$('signout').addEventListener('click', () => signOut());
wireInvestigation();
$('filters').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void loadEvents().catch(showError);
});
$('range').addEventListener('change', () => void loadChart().catch(showError));

if (token()) void signIn();
else signOut();
