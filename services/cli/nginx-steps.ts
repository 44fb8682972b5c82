// The steps that point an nginx node at a running logwarden, as the `npm start`
// banner prints them: the README's "Point nginx at it" in short, with this
// instance's own syslog address and nodes. nginx-steps.test.ts holds them to
// the shipped snippets (lua/conf/), the config defaults and the README.
import type { NodeConfig } from '../../shared/config/types.js';

/** Where the README installs lua/ (the snippets name it). */
export const LUA_DIR = '/etc/logwarden/lua';
/** The control listener as logwarden-control.conf ships it. */
export const CONTROL_LISTEN = '127.0.0.1:8091';
export const LOAD_MODULES = ['load_module /usr/lib/nginx/modules/ndk_http_module.so;', 'load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;'];
export const INCLUDES = {
  http: `include ${LUA_DIR}/conf/logwarden-http.conf;`,
  control: `include ${LUA_DIR}/conf/logwarden-control.conf;`,
  server: `include ${LUA_DIR}/conf/logwarden-server.conf;`,
};

export interface NginxStepsInput {
  /** The UDP syslog address the ingester listens on (host as configured, the bound port). */
  udpHost: string;
  udpPort: number;
  nodes: readonly Pick<NodeConfig, 'name' | 'url' | 'secret_env' | 'secret_file'>[];
}

const LOOPBACK = /^(127\.|::1$|localhost$)/;
const ANY = /^(0\.0\.0\.0|::)$/;

/** The banner's lines, indented for it. */
export function nginxSteps(i: NginxStepsInput): string[] {
  const syslog = ANY.test(i.udpHost) ? `THIS-HOST:${i.udpPort}` : i.udpHost.includes(':') ? `[${i.udpHost}]:${i.udpPort}` : `${i.udpHost}:${i.udpPort}`;
  const reach = LOOPBACK.test(i.udpHost)
    ? ' (loopback: nginx on this host only; for others set ingest.udp.host)'
    : ANY.test(i.udpHost)
      ? ' (every interface: name an address of this host the nodes reach)'
      : '';
  const node = i.nodes[0];
  const nodeUrl = node?.url ?? `http://${CONTROL_LISTEN}`;
  const lines = [
    '  point nginx at it  (README "Point nginx at it"; each node: OpenResty, or Debian: apt-get install nginx libnginx-mod-http-lua lua-cjson)',
    `    1. copy lua/ to ${LUA_DIR} and schemas/security-filter/limits.json to /etc/logwarden/schemas/security-filter/`,
    `    2. edit lua/conf/logwarden-server.conf: syslog:server=127.0.0.1:5514 → syslog:server=${syslog}${reach}`,
    '       edit lua/conf/logwarden-control.conf: set $logwarden_control_secret "<16+ characters>"; (empty: every call gets 503)',
    `       lua/ elsewhere than ${LUA_DIR}: change lua_package_path in lua/conf/logwarden-http.conf`,
    `    3. your own nginx.conf only (Debian's loads them from modules-enabled; OpenResty needs none): ${LOAD_MODULES.join(' ')}`,
    `    4. in http {}:      ${INCLUDES.http}  ${INCLUDES.control}`,
    `       in each server: ${INCLUDES.server}  (the access check and the syslog line)`,
    '       then: nginx -t && nginx -s reload',
  ];
  if (node === undefined) {
    lines.push(
      `    5. logwarden.yaml: nodes: [{ name: edge-1, url: "http://${CONTROL_LISTEN}", secret_env: LOGWARDEN_NODE_SECRET }], that variable holding the secret; restart`,
      '       (none configured now: nothing is enforced). The listener answers loopback only: from another host, listen on an',
      '       internal address in logwarden-control.conf, set $logwarden_control_allow_remote "on", and put that address in url',
    );
  } else {
    const secret = node.secret_file ? `secret_file ${node.secret_file}` : `$${node.secret_env}`;
    lines.push(`    5. nodes: ${i.nodes.map((n) => `${n.name} (${n.url})`).join(', ')}; secret from ${secret}`);
  }
  lines.push(`    6. check a node: logwarden check-node ${nodeUrl} --probe http://A-SITE-OF-THE-NODE/   (secret from $LOGWARDEN_NODE_SECRET, token from $LOGWARDEN_TOKEN)`);
  return lines;
}
