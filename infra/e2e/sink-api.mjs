#!/usr/bin/env node
// The sink and the API in one process, for the distributed end-to-end run:
// the embedded ClickHouse engine takes one process per data directory, and
// both services need it (the CLI starts one service per process). Prints
// `READY {"apiPort":N}` once both serve; SIGTERM/SIGINT stop it cleanly.
//
//   node infra/e2e/sink-api.mjs CONFIG.yaml
import { loadConfig } from '../../dist/shared/config/load.js';
import { rootLogger } from '../../dist/shared/log.js';
import { startRuntime } from '../../dist/services/runtime.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node infra/e2e/sink-api.mjs CONFIG.yaml\n');
  process.exit(2);
}
const config = loadConfig({ file });
rootLogger.level = config.log_level;
const rt = await startRuntime(config, new Set(['sink', 'api']));
process.stdout.write(`READY ${JSON.stringify({ apiPort: rt.apiPort })}\n`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  rt.stop().then(
    () => process.exit(0),
    (err) => {
      rootLogger.error({ err }, 'stop failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
