// HTTPS for the management API (api.tls). Without a certificate there is
// nothing here: fastify makes its own plain server (its timeouts and keep-alive
// settings). With one, fastify gets from here an HTTPS server whose certificate and
// key are read again whenever either file changes (a renewal by certbot or
// cert-manager takes effect without a restart; a renewal caught half-written
// keeps the previous pair and says why). With TLS on, every answer carries HSTS.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import { componentLogger } from '../../shared/log.js';
import type { ApiConfig } from '../../shared/config/types.js';

const log = componentLogger('api');

/** A year, the usual HSTS lifetime. */
export const HSTS = 'max-age=31536000';
const WATCH_INTERVAL_MS = 1_000;

export interface TlsServer {
  /** For fastify's serverFactory. */
  factory: (handler: http.RequestListener) => http.Server;
  /** Stops watching the certificate files. */
  close(): void;
}

/** undefined when api.tls names no certificate (plain HTTP). */
export function tlsServer(config: Pick<ApiConfig, 'tls'>): TlsServer | undefined {
  const { cert_file, key_file } = config.tls;
  if (cert_file === '') return undefined;
  const read = (): { cert: Buffer; key: Buffer } => ({ cert: readFileSync(cert_file), key: readFileSync(key_file) });
  let server: https.Server | undefined;
  const reload = (): void => {
    try {
      server?.setSecureContext(read());
      log.info({ cert_file }, 'API certificate reloaded');
    } catch (err) {
      log.error({ err, cert_file, key_file }, 'API certificate not reloaded; the previous one stays in use');
    }
  };
  return {
    factory: (handler) => {
      server = https.createServer(read(), handler);
      watchFile(cert_file, { interval: WATCH_INTERVAL_MS }, reload);
      watchFile(key_file, { interval: WATCH_INTERVAL_MS }, reload);
      // fastify's types know the plain server only; the HTTPS one serves the same requests.
      return server;
    },
    close: () => {
      unwatchFile(cert_file, reload);
      unwatchFile(key_file, reload);
    },
  };
}
