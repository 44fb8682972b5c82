// One pino logger for every service; children carry the component name.
import { pino, type Logger } from 'pino';

export type { Logger };

export const rootLogger: Logger = pino({
  level: process.env.LOGWARDEN_LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'warn' : 'info'),
  base: { app: 'logwarden' },
  // Tokens and secrets must never reach a log line, whatever a caller passes.
  redact: { paths: ['*.token', '*.secret', '*.password', '*.credentials', 'headers.authorization'], censor: '[redacted]' },
});

export function componentLogger(component: string): Logger {
  return rootLogger.child({ component });
}
