// `detection.crawlers` in logwarden.yaml: its defaults, and every invalid value
// stopping the start with the key's path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, type ConfigIssue } from '../../../shared/config/load.js';
import { CrawlerCatalog } from './catalog.js';
import { CrawlerVerifier } from './verify.js';

function issuesOf(text: string): ConfigIssue[] {
  try {
    loadConfig({ text, env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail('the config was accepted');
}

test('defaults: on, the system resolver, durations in ms', () => {
  const c = loadConfig({ text: '', env: {} });
  assert.deepEqual(c.detection.crawlers, {
    enabled: true,
    resolvers: [],
    verified_ttl_ms: 86_400_000,
    failed_ttl_ms: 3_600_000,
    unavailable_retry_ms: 60_000,
    max_entries: 100_000,
    lookups_per_second: 20,
    timeout_ms: 2_000,
    extra: [],
  });
});

test('an operator crawler and resolvers are read; the verifier takes the section as it is', () => {
  const c = loadConfig({
    text: [
      'detection:',
      '  crawlers:',
      '    resolvers: ["127.0.0.1:5353", "::1", "[::1]:53"]',
      '    verified_ttl: 6h',
      '    extra: [{ name: examplebot, user_agent: "ExampleBot/\\\\d", domains: [crawl.example.org] }]',
    ].join('\n'),
    env: {},
  });
  assert.deepEqual(c.detection.crawlers.extra, [{ name: 'examplebot', user_agent: 'ExampleBot/\\d', domains: ['crawl.example.org'] }]);
  assert.equal(c.detection.crawlers.verified_ttl_ms, 21_600_000);
  const v = new CrawlerVerifier({ ...c.detection.crawlers, offline: true });
  assert.equal(v.status('192.0.2.1', 'ExampleBot/1.0'), 'unverified');
  assert.equal(v.catalog.claimed('ExampleBot/1.0')?.name, 'examplebot');
});

test('invalid values name their key', () => {
  const issues = issuesOf(
    [
      'detection:',
      '  crawlers:',
      '    enabled: maybe',
      '    resolvers: ["dns.example.com", "127.0.0.1"]',
      '    lookups_per_second: 0',
      '    max_entries: 0',
      '    timeout: soon',
      '    extra:',
      '      - { name: a, user_agent: "(", domains: [example.org] }',
      '      - { name: b, user_agent: "B", domains: [com] }',
      '      - { name: c, user_agent: "C" }',
    ].join('\n'),
  );
  const paths = issues.map((i) => i.path).sort();
  assert.deepEqual(paths, [
    'detection.crawlers.enabled',
    'detection.crawlers.extra[1].domains[0]',
    'detection.crawlers.extra[2].domains',
    'detection.crawlers.lookups_per_second',
    'detection.crawlers.max_entries',
    'detection.crawlers.timeout',
  ]);
  // Values that pass the schema are checked after it: a regular expression, a resolver address.
  const later = issuesOf(['detection:', '  crawlers:', '    resolvers: ["dns.example.com", "127.0.0.1"]', '    extra: [{ name: a, user_agent: "(", domains: [example.org] }]'].join('\n'));
  assert.deepEqual(later.map((i) => i.path).sort(), ['detection.crawlers.extra[0].user_agent', 'detection.crawlers.resolvers[0]']);
});

test('a feed reader that says it is "like FeedFetcher-Google" claims no crawler; Google\'s own fetcher does', () => {
  const catalog = new CrawlerCatalog([]);
  assert.equal(catalog.claimed('Feedly/1.0 (+http://www.feedly.com/fetcher.html; 3 subscribers; like FeedFetcher-Google)'), undefined);
  assert.equal(catalog.claimed('FeedFetcher-Google; (+http://www.google.com/feedfetcher.html)')?.name, 'googlebot');
});
