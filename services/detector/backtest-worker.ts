// One thread of a parallel backtest: reads every line, parses and detects
// only the lines whose client address hashes to its shard.
import { parentPort, workerData } from 'node:worker_threads';
import type { FileFormat } from '../../shared/access-log/detect-format.js';
import type { Config } from '../../shared/config/load.js';
import { backtestShard, type ShardSpec } from './backtest.js';

const { config, formats, dns, shard } = workerData as { config: Config; formats: FileFormat[]; dns: boolean; shard: ShardSpec };
parentPort?.postMessage(await backtestShard(config, { formats, dns }, shard));
