// The OpenAPI document as clients read it: what our schemas mean must survive the translation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from '../../shared/config/duration.js';
import { buildOpenApi } from './openapi.js';

test('a config-style duration is documented as a pattern, not as the standard ISO 8601 "duration" format', () => {
  const doc = buildOpenApi(
    [{ method: 'PUT', url: '/x', auth: 'admin', schema: { body: { type: 'object', properties: { window: { type: 'string', format: 'duration' }, ip: { type: 'string', format: 'ip-or-cidr' } } } } }],
    '0.0.0',
  ) as { paths: Record<string, { put: { requestBody: { content: Record<string, { schema: { properties: Record<string, Record<string, unknown>> } }> } } }> };
  const props = doc.paths['/x']?.put.requestBody.content['application/json']?.schema.properties;
  const window = props?.window;
  assert.ok(window, 'the property is documented');
  assert.equal(window.format, undefined, 'no standard format that contradicts the values');
  const re = new RegExp(String(window.pattern));
  for (const v of ['30s', '24h', '7d', '1h30m', '500ms']) {
    assert.ok(re.test(v), `${v} matches`);
    assert.notEqual(parseDuration(v), undefined);
  }
  for (const v of ['P1D', '24', 'h', '']) assert.ok(!re.test(v), `${v} does not match`);
  assert.equal(props.ip?.format, 'ip-or-cidr', 'formats of our own stay as annotations');
});
