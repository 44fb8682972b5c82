// The settings of every insert, in the statement itself: scoped to that
// insert in both modes (client.ts's header says why not clickhouse_settings).
// Together they make an acknowledged insert mean "these rows are stored, and a
// retry with the same token stores none of them again", whatever its size.
import { stringLiteral } from './sql.js';

/** More rows than any insert has: blocks are cut and squashed by rows only, so an insert is one block. */
const ONE_BLOCK_ROWS = 1_000_000_000_000;

/**
 * `token`: the caller's deduplication token, or a random one (without a
 * token ClickHouse would deduplicate by content, and the switch for that
 * differs between versions: insert_deduplicate, deduplicate_insert since 25.x).
 */
export function insertSettings(token: string, optimizeOnInsert: boolean): string[] {
  const settings = [
    'insert_deduplicate = 1',
    // The rollups' materialized views must deduplicate a retried block too (older servers default this off).
    'deduplicate_blocks_in_dependent_materialized_views = 1',
    `insert_deduplication_token = ${stringLiteral(token)}`,
    // The acknowledgement means the rows are in the table, and the token
    // works as above, even where a server profile turns async inserts on.
    'async_insert = 0',
    // The views on the table (events has five) run side by side, not one
    // after the other: same rows, same tokens, ~10% less time on events.
    'parallel_view_processing = 1',
    // One block per insert, whatever its size: the token names a block, so an
    // insert cut into several (past max_insert_block_size rows a parsed chunk,
    // a 10 MiB chunk when parsing in parallel, past 1,048,449 rows or 256 MiB
    // when squashing) is deduplicated block by block, and a redelivery of
    // another size stores its extra blocks. Callers bound their batches
    // (clickhouse.sink_batch_rows, at most 1,000,000), so the block is bounded.
    `max_insert_block_size = ${ONE_BLOCK_ROWS}`,
    `min_insert_block_size_rows = ${ONE_BLOCK_ROWS}`,
    'min_insert_block_size_bytes = 0',
    'input_format_parallel_parsing = 0',
  ];
  // Off where the caller says collapsing at insert is pure cost (client.ts, InsertOptions.optimizeOnInsert).
  if (!optimizeOnInsert) settings.push('optimize_on_insert = 0');
  return settings;
}
