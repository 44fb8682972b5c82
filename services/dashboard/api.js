// Calls to the management API with the token of this tab. The token lives in
// sessionStorage (gone with the tab) and only ever travels in the
// Authorization header, never in a URL, where logs and history would keep it.
/* global fetch, sessionStorage, TextDecoder */

const KEY = 'logwarden.token';

export class AuthError extends Error {}

export function token() {
  return sessionStorage.getItem(KEY) ?? '';
}

export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

/** JSON of an API call; throws AuthError on 401 and Error(message) on other failures. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { authorization: `Bearer ${token()}`, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  let json;
  try {
    json = await res.json();
  } catch {
    json = {};
  }
  if (res.status === 401) throw new AuthError(json.error ?? 'unauthorized');
  if (!res.ok) throw new Error(`${method} ${path.split('?')[0]}: ${json.error ?? res.status}`);
  return json;
}

/**
 * Server-Sent Events over fetch: EventSource cannot send an Authorization
 * header, fetch can. Calls onEvent(name, data) per event until `signal` aborts
 * or the stream ends; resolves then, rejects on a failed connection.
 */
export async function sse(path, onEvent, signal) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token()}`, accept: 'text/event-stream' }, signal, cache: 'no-store' });
  if (res.status === 401) throw new AuthError('unauthorized');
  if (!res.ok || !res.body) throw new Error(`stream: HTTP ${res.status}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) {
        try {
          onEvent(name, JSON.parse(data.join('\n')));
        } catch {
          // A malformed record is skipped; the stream goes on.
        }
      }
    }
  }
}
