// The errors of ingestion's access-log library. A line that does not parse is
// never an error: it is a rejected result with a reason (dead-lettered and
// counted). What throws is setup: a log_format that cannot be compiled, a disk
// buffer that cannot be opened.
import { def, defineErrors } from '../errors.js';

export const INGEST_ERRORS = defineErrors('ingest', {
  LW_INGEST_LOG_FORMAT_INVALID: def('LW_INGEST_LOG_FORMAT_INVALID', 'ingest.log_format cannot be compiled into a parser; the message says where'),
  LW_INGEST_DISK_BUFFER_UNAVAILABLE: def('LW_INGEST_DISK_BUFFER_UNAVAILABLE', 'the ingester cannot open its disk buffer under <data_dir>/ingest-buffer (not writable, or every slot held by a live process); the message says why'),
});
