// Raw bytes of one line → AccessRecord or a reject reason. Shared by the live
// ingester and by backtesting, so a replayed log is read exactly as live
// traffic is. The byte-level rules (line end, size limit, UTF-8, syslog
// header) are formats/index.ts's createRawLineParser; this adds which lines
// carry a header and the repair count.
import { isUtf8 } from 'node:buffer';
import { Counter } from 'prom-client';
import type { Config } from '../config/load.js';
import { registry } from '../metrics.js';
import { compileTrustedProxies, type LineResult, type RecordContext } from './record.js';
import { createRawLineParser } from './formats/index.js';

export type Source = 'udp' | 'tcp' | 'file';

/**
 * How lines of a file are wrapped: as nginx writes them (none; a line that starts with
 * <PRI> is still read as syslog), or as a relay wrote them, a syslog header without <PRI>.
 */
export type FileWrapper = 'none' | 'syslog-file';

export interface DecoderOptions {
  /** The format, instead of `ingest.log_format` (replay's --format or what it detected). */
  format?: string;
  fileWrapper?: FileWrapper;
}

const repaired = new Counter({
  name: 'logwarden_ingest_repaired_total',
  help: 'Lines kept after repair (invalid UTF-8 replaced by U+FFFD), by reason',
  labelNames: ['source', 'reason'],
  registers: [registry],
});

export class LineDecoder {
  readonly ctx: RecordContext;
  private readonly withHeader: (raw: Buffer, receivedAt: number) => LineResult;
  private readonly bare: (raw: Buffer, receivedAt: number) => LineResult;

  constructor(config: Config, options: DecoderOptions = {}) {
    this.ctx = {
      deployments: config.ingest.deployments,
      trustedProxies: compileTrustedProxies(config.ingest.trusted_proxies),
      defaultNode: config.ingest.node,
    };
    const format = options.format ?? config.ingest.log_format;
    const base = { format, ctx: this.ctx, maxLineBytes: config.ingest.max_line_bytes, oversize: config.ingest.oversize_lines };
    this.withHeader = createRawLineParser({ ...base, syslog: true });
    this.bare = createRawLineParser({ ...base, syslog: options.fileWrapper === 'syslog-file' ? 'file' : false });
  }

  decode(raw: Buffer, source: Source, receivedAt: number): LineResult {
    // Invalid UTF-8 becomes U+FFFD and the line is kept: rejecting it would let a
    // client hide from detection with one bad byte in its User-Agent.
    if (!isUtf8(raw)) repaired.inc({ source, reason: 'invalid_utf8' });
    // A log file written by nginx itself has no syslog header; a datagram or TCP frame must.
    return source === 'file' && raw[0] !== 60 /* < */ ? this.bare(raw, receivedAt) : this.withHeader(raw, receivedAt);
  }
}
