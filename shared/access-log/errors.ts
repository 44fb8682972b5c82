// The errors of ingestion's access-log library. A line that does not parse is
// never an error: it is a rejected result with a reason (dead-lettered and
// counted). What throws is setup: a log_format that cannot be compiled.
import { def, defineErrors } from '../errors.js';

export const INGEST_ERRORS = defineErrors('ingest', {
  LW_INGEST_LOG_FORMAT_INVALID: def('LW_INGEST_LOG_FORMAT_INVALID', 'ingest.log_format cannot be compiled into a parser; the message says where'),
});
