// HTTPS for the management API (api.tls). fastify gets the server from here:
// plain HTTP without a certificate, else an HTTPS server whose certificate and
// key are read again whenever either file changes (a renewal by certbot or
// cert-manager takes effect without a restart; a renewal caught half-written
// keeps the previous pair and says why). With TLS on, every answer carries HSTS.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { componentLogger } from '../../shared/log.js';
import type { ApiConfig } from '../../shared/config/types.js';

const log = componentLogger('api');

/** A year, the usual HSTS lifetime. */
export const HSTS = 'max-age=31536000';
const WATCH_INTERVAL_MS = 1_000;

export interface ApiServer {
  /** For fastify's serverFactory, with TLS (without, fastify makes its own plain server). */
  factory: (handler: http.RequestListener) => http.Server;
  tls: boolean;
  /** Stops watching the certificate files. */
  close(): void;
}

export function apiServer(config: Pick<ApiConfig, 'tls'>): ApiServer {
  const { cert_file, key_file } = config.tls;
  if (cert_file === '') return { factory: (handler) => http.createServer(handler), tls: false, close: () => undefined };
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
    tls: true,
    close: () => {
      unwatchFile(cert_file, reload);
      unwatchFile(key_file, reload);
    },
  };
}
