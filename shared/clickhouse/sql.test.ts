import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onClusterClause, qualifiedTable, quoteIdentifier, renderTemplate, splitStatements, stringLiteral } from './sql.js';

test('splitStatements splits at ; outside strings, identifiers and comments', () => {
  const script = `-- leading comment; not a statement
CREATE TABLE a (s String DEFAULT 'x;y', t String DEFAULT 'it''s; \\' ;') ENGINE = Memory;
/* block; comment */
ALTER TABLE \`we;ird\` ADD COLUMN "c;d" UInt8 -- trailing; comment
;
  ;
SELECT 1`;
  assert.deepEqual(splitStatements(script), [
    `-- leading comment; not a statement
CREATE TABLE a (s String DEFAULT 'x;y', t String DEFAULT 'it''s; \\' ;') ENGINE = Memory`,
    `/* block; comment */
ALTER TABLE \`we;ird\` ADD COLUMN "c;d" UInt8 -- trailing; comment`,
    'SELECT 1',
  ]);
  assert.deepEqual(splitStatements('-- only a comment;\n/* and; another */\n'), []);
  assert.throws(() => splitStatements("SELECT 'open"), /unterminated ' quote/);
  assert.throws(() => splitStatements('SELECT 1 /* open'), /unterminated \/\* comment/);
});

test('renderTemplate substitutes known variables and refuses unknown ones', () => {
  assert.equal(renderTemplate('CREATE TABLE {{database}}.t{{ on_cluster }}', { database: '`db`', on_cluster: '' }), 'CREATE TABLE `db`.t');
  assert.throws(() => renderTemplate('TTL {{retention_dayz}}', { retention_days: '30' }), /\{\{retention_dayz\}\} is unknown/);
  // ClickHouse parameter placeholders are single braces and stay as they are.
  assert.equal(renderTemplate('WHERE ip = {ip:IPv6}', {}), 'WHERE ip = {ip:IPv6}');
});

test('identifiers and literals are validated or escaped', () => {
  assert.equal(quoteIdentifier('events'), '`events`');
  for (const bad of ['', '1x', 'a-b', 'a`b', 'a b', 'a.b']) assert.throws(() => quoteIdentifier(bad), /not a plain SQL identifier/);
  assert.equal(qualifiedTable('lw', 'events'), '`lw`.`events`');
  assert.equal(qualifiedTable('lw', 'system.tables'), '`system`.`tables`');
  assert.equal(stringLiteral("a'b\\c"), "'a\\'b\\\\c'");
  assert.equal(onClusterClause(undefined), '');
  assert.equal(onClusterClause('prod-1'), ' ON CLUSTER `prod-1`');
  assert.throws(() => onClusterClause('x`; DROP'), /not a valid cluster name/);
});
