// $request, the request line: "GET /path?q HTTP/1.1".
//
// nginx logs request lines it could not parse too, with status 400: a TLS
// ClientHello sent to a plain-HTTP port ("\x16\x03\x01..."), an SSH banner,
// binary noise from scanners. Those are attack signals, so such a line still
// makes a record: method and URI empty, the request line kept as logged in
// extra.request by the caller.

export interface RequestLine {
  method: string;
  uri: string;
  /** False when the line is not `METHOD SP URI [SP HTTP/x]`. */
  wellFormed: boolean;
}

/** RFC 9110 token characters, the only ones a method may have. */
function isTchar(c: number): boolean {
  return (
    (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) ||
    c === 33 || (c >= 35 && c <= 39) || c === 42 || c === 43 || c === 45 || c === 46 || c === 94 || c === 95 || c === 96 || c === 124 || c === 126
  );
}

const EMPTY: RequestLine = { method: '', uri: '', wellFormed: true };
const GARBAGE: RequestLine = { method: '', uri: '', wellFormed: false };

export function splitRequestLine(req: string): RequestLine {
  if (req === '' || req === '-') return EMPTY;
  const sp = req.indexOf(' ');
  if (sp <= 0 || sp > 32) return GARBAGE;
  for (let i = 0; i < sp; i++) if (!isTchar(req.charCodeAt(i))) return GARBAGE;
  const last = req.lastIndexOf(' ');
  // Without a protocol (HTTP/0.9, or a line cut short) the URI runs to the end.
  const end = last > sp && req.startsWith('HTTP/', last + 1) ? last : req.length;
  const uri = req.slice(sp + 1, end);
  if (uri === '') return GARBAGE;
  return { method: req.slice(0, sp), uri, wellFormed: true };
}
