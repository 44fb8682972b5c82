// The TCP relay of the end-to-end bench (loadtest/pipeline-e2e.bench.ts), as a
// site's rsyslog or syslog-ng relay would be: it reads syslog lines (one a line
// on its standard input) and writes them to the ingester's TCP input, framed
// as RFC 6587 octet counting ("LEN SP MSG") or one a line. The framing and the
// line splitting are here, pure; the process is relay-main.ts.

export type RelayFraming = 'octet' | 'newline';

const SPACE = 0x20;
const NL = 0x0a;

/** One syslog message framed for a TCP syslog input. */
export function frame(msg: Buffer, framing: RelayFraming): Buffer {
  if (framing === 'newline') {
    const out = Buffer.allocUnsafe(msg.length + 1);
    msg.copy(out, 0);
    out[msg.length] = NL;
    return out;
  }
  const head = Buffer.from(`${msg.length} `, 'latin1');
  return Buffer.concat([head, msg], head.length + msg.length);
}

/** Several messages framed into one buffer (one write for a batch). */
export function frameAll(msgs: readonly Buffer[], framing: RelayFraming): Buffer {
  return Buffer.concat(msgs.map((m) => frame(m, framing)));
}

/**
 * Splits a byte stream into lines (LF, an optional CR before it dropped);
 * empty lines are skipped. Holds the unfinished tail between chunks; `end`
 * returns it as the last line.
 */
export class LineSplitter {
  private rest: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    const data = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    const out: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = data.indexOf(NL, start);
      if (nl < 0) break;
      const end = nl > start && data[nl - 1] === 0x0d ? nl - 1 : nl;
      if (end > start) out.push(data.subarray(start, end));
      start = nl + 1;
    }
    // A copy: the caller's chunk may be reused by the stream.
    this.rest = Buffer.from(data.subarray(start));
    return out;
  }

  end(): Buffer[] {
    const last = this.rest;
    this.rest = Buffer.alloc(0);
    return last.length > 0 ? [last] : [];
  }
}

/** Reads octet-counted frames back (what the ingester does): the messages, and the unread tail. For the tests. */
export function unframeOctets(data: Buffer): { msgs: Buffer[]; rest: Buffer } {
  const msgs: Buffer[] = [];
  let at = 0;
  for (;;) {
    const sp = data.indexOf(SPACE, at);
    if (sp < 0) break;
    const len = Number(data.toString('latin1', at, sp));
    if (!Number.isInteger(len) || len < 0) throw new RangeError(`bad octet count at byte ${at}`);
    if (sp + 1 + len > data.length) break;
    msgs.push(data.subarray(sp + 1, sp + 1 + len));
    at = sp + 1 + len;
  }
  return { msgs, rest: data.subarray(at) };
}
