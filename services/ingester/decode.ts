// Raw bytes of one line → AccessRecord or a reject reason. Shared by the live
// ingester and by backtesting, so a replayed log is read exactly as live
// traffic is.
import { Counter } from 'prom-client';
import type { Config } from '../../shared/config/load.js';
import { registry } from '../../shared/metrics.js';
import { compileTrustedProxies, type LineResult, type RecordContext } from './access-log.js';
import { createLineParser } from './formats/index.js';
import { parseSyslog, type SyslogHeader } from './syslog.js';

export type Source = 'udp' | 'tcp' | 'file';

const repaired = new Counter({
  name: 'logwarden_ingest_repaired_total',
  help: 'Lines kept after repair (invalid UTF-8 replaced by U+FFFD), by reason',
  labelNames: ['source', 'reason'],
  registers: [registry],
});
const REPLACEMENT_CHAR = Buffer.from('\uFFFD');

export type MessageParser = (message: string, header: SyslogHeader | undefined, receivedAt: number) => LineResult;

export class LineDecoder {
  readonly ctx: RecordContext;
  private readonly parseMessage: MessageParser;

  constructor(
    private readonly config: Config,
    parser?: MessageParser,
  ) {
    this.ctx = {
      deployments: config.ingest.deployments,
      trustedProxies: compileTrustedProxies(config.ingest.trusted_proxies),
      defaultNode: config.ingest.node,
    };
    this.parseMessage = parser ?? createLineParser(config.ingest.log_format, this.ctx);
  }

  decode(raw: Buffer, source: Source, receivedAt: number): LineResult {
    const max = this.config.ingest.max_line_bytes;
    let bytes = raw;
    if (bytes.length > 0 && bytes[bytes.length - 1] === 10) bytes = bytes.subarray(0, bytes[bytes.length - 2] === 13 ? -2 : -1);
    if (bytes.length === 0) return { ok: false, reason: 'empty', detail: 'empty line' };
    if (bytes.length > max) {
      if (this.config.ingest.oversize_lines === 'reject') {
        return { ok: false, reason: 'too_long', detail: `${bytes.length} bytes > max_line_bytes ${max}` };
      }
      // Cut on a character boundary: never leave half a UTF-8 sequence at the end.
      let cut = max;
      while (cut > 0 && ((bytes[cut] as number) & 0xc0) === 0x80) cut--;
      bytes = bytes.subarray(0, cut);
    }
    // Invalid UTF-8 becomes U+FFFD and the line is kept: rejecting it would let a
    // client hide from detection with one bad byte in its User-Agent.
    const line = bytes.toString('utf8');
    if (line.includes('\uFFFD') && !bytes.includes(REPLACEMENT_CHAR)) repaired.inc({ source, reason: 'invalid_utf8' });
    // A log file written by nginx itself has no syslog header; a datagram or TCP frame must.
    if (source === 'file' && line.charCodeAt(0) !== 60 /* < */) return this.parseMessage(line, undefined, receivedAt);
    const syslog = parseSyslog(line, receivedAt);
    if (!syslog.ok) return { ok: false, reason: 'bad_syslog_header', detail: syslog.detail };
    return this.parseMessage(syslog.message, syslog.header, receivedAt);
  }
}
