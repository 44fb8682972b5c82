// nginx variables → the record's fields.
//
// Where several variables can fill one field, the first present in the
// format, in this order, fills it and the others are kept in `extra` under
// their own names:
//   event time   $msec, $time_iso8601, $time_local      (the most precise first)
//   host         $host, $http_host, $server_name
//   bytes        $body_bytes_sent, $bytes_sent
//   country      $logwarden_country, $geoip2_data_country_code, $geoip_country_code
//   method       $request_method, $request
//   URI          $request_uri, $uri$is_args$args, $uri (+ $args), $request
// $is_args alone carries nothing ($args says it all) and is dropped. Every
// variable not listed here is kept in `extra` by its name (without `$`).

export const enum Target {
  Extra = 0,
  Drop,
  ClientIp,
  Xff,
  Realip,
  AuthUser,
  TsMsec,
  TsLocal,
  TsIso,
  Request,
  Method,
  Uri,
  UriPath,
  Args,
  Status,
  Bytes,
  RequestTime,
  UpstreamTime,
  UserAgent,
  Referer,
  Host,
  Node,
  RequestId,
  Deployment,
  Country,
  BlockedBy,
  FilterAlert,
}

/** What a variable's value may look like; checked while matching, so that a wrong split is noticed and undone. */
export const enum Kind {
  Text = 0,
  Status,
  Integer,
  Decimal,
  List,
  TimeLocal,
  TimeIso,
  /** $server_protocol: "HTTP/1.1", "" for a request nginx could not parse. */
  Protocol,
}

const SIMPLE: Readonly<Record<string, Target>> = {
  http_x_forwarded_for: Target.Xff,
  remote_user: Target.AuthUser,
  status: Target.Status,
  request_time: Target.RequestTime,
  upstream_response_time: Target.UpstreamTime,
  http_user_agent: Target.UserAgent,
  http_referer: Target.Referer,
  hostname: Target.Node,
  request_id: Target.RequestId,
  logwarden_request_id: Target.RequestId,
  logwarden_deployment: Target.Deployment,
  logwarden_blocked_by: Target.BlockedBy,
  security_filter_alert: Target.FilterAlert,
};

const TS = ['msec', 'time_iso8601', 'time_local'] as const;
const HOST = ['host', 'http_host', 'server_name'] as const;
const BYTES = ['body_bytes_sent', 'bytes_sent'] as const;
const COUNTRY = ['logwarden_country', 'geoip2_data_country_code', 'geoip_country_code'] as const;
/** The folded `$uri$is_args$args` (see nginx-format.ts). */
export const URI_WITH_ARGS = 'uri$is_args$args';

const KINDS: Readonly<Record<string, Kind>> = {
  status: Kind.Status,
  body_bytes_sent: Kind.Integer,
  bytes_sent: Kind.Integer,
  request_length: Kind.Integer,
  connection: Kind.Integer,
  connection_requests: Kind.Integer,
  pid: Kind.Integer,
  remote_port: Kind.Integer,
  request_time: Kind.Decimal,
  msec: Kind.Decimal,
  upstream_response_time: Kind.List,
  upstream_connect_time: Kind.List,
  upstream_header_time: Kind.List,
  upstream_status: Kind.List,
  upstream_response_length: Kind.List,
  upstream_bytes_received: Kind.List,
  upstream_bytes_sent: Kind.List,
  time_local: Kind.TimeLocal,
  time_iso8601: Kind.TimeIso,
  server_protocol: Kind.Protocol,
};

export function kindOf(variable: string): Kind {
  return Object.hasOwn(KINDS, variable) ? (KINDS[variable] as Kind) : Kind.Text;
}

/** Name under which a variable is kept in `extra`. */
export function extraName(variable: string): string {
  return variable === URI_WITH_ARGS ? 'uri' : variable;
}

export interface Resolved {
  /** One per variable of the format, in order. */
  targets: Target[];
  methodFromRequest: boolean;
  uriFromRequest: boolean;
  /** Why the format cannot make records. */
  error?: string;
}

const first = (present: ReadonlySet<string>, names: readonly string[]): string | undefined => names.find((n) => present.has(n));

export function resolveTargets(vars: readonly string[]): Resolved {
  const present = new Set(vars);
  const targets: Target[] = [];
  const resolved: Resolved = { targets, methodFromRequest: false, uriFromRequest: false };
  if (!present.has('remote_addr') && !present.has('realip_remote_addr')) {
    resolved.error = 'the format has no client address: it needs $remote_addr';
    return resolved;
  }
  if (!present.has('status')) {
    resolved.error = 'the format has no $status: every record needs the response status';
    return resolved;
  }
  const ts = first(present, TS);
  const host = first(present, HOST);
  const bytes = first(present, BYTES);
  const country = first(present, COUNTRY);
  const method = first(present, ['request_method', 'request']);
  const uri = first(present, ['request_uri', URI_WITH_ARGS, 'uri', 'document_uri', 'request']);
  resolved.methodFromRequest = method === 'request';
  resolved.uriFromRequest = uri === 'request';
  for (const v of vars) {
    let t = Target.Extra;
    if (Object.hasOwn(SIMPLE, v)) t = SIMPLE[v] as Target;
    else if (v === 'remote_addr') t = Target.ClientIp;
    // Without $remote_addr, the peer is the only address there is.
    else if (v === 'realip_remote_addr') t = present.has('remote_addr') ? Target.Realip : Target.ClientIp;
    else if (v === ts) t = v === 'msec' ? Target.TsMsec : v === 'time_local' ? Target.TsLocal : Target.TsIso;
    else if (v === host) t = Target.Host;
    else if (v === bytes) t = Target.Bytes;
    else if (v === country) t = Target.Country;
    else if (v === 'request_method' && method === v) t = Target.Method;
    else if (v === 'request') t = method === v || uri === v ? Target.Request : Target.Extra;
    else if (v === 'request_uri' || v === URI_WITH_ARGS) t = uri === v ? Target.Uri : Target.Extra;
    else if (v === 'uri' || v === 'document_uri') t = uri === v ? Target.UriPath : Target.Extra;
    else if (v === 'args' || v === 'query_string') t = uri === 'uri' || uri === 'document_uri' ? Target.Args : Target.Extra;
    else if (v === 'is_args') t = Target.Drop;
    targets.push(t);
  }
  return resolved;
}
