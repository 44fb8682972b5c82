// Errors the operator commands raise themselves, before or instead of a call
// to the API (after services/api/errors.ts): each built once with a stable
// code, the exit code it ends the command with (EXIT, api-client.ts) and a
// message template. An answer of the API keeps the API's own code
// (ApiCallError). Codes are part of the CLI: a retired code is never reused.
//
// What the user sees is `logwarden <command>: <message>`; a usage error adds
// a pointer to --help.
import { def as baseDef, defineErrors, LogwardenError, type ErrorDef } from '../../shared/errors.js';
import { EXIT } from './api-client.js';

export interface CliErrorDef extends ErrorDef {
  /** The exit code the command ends with. */
  exitCode: number;
}

function def(code: string, exitCode: number, message: string): CliErrorDef {
  return { ...baseDef(code, message), exitCode };
}

export const CLI_ERRORS = defineErrors('cli', {
  LW_CLI_USAGE: def('LW_CLI_USAGE', EXIT.USAGE, 'not a command line logwarden can run'),
  LW_CLI_TOKEN_FILE: def('LW_CLI_TOKEN_FILE', EXIT.USAGE, '--token-file cannot be read, or is empty'),
  LW_CLI_TOKEN_MALFORMED: def('LW_CLI_TOKEN_MALFORMED', EXIT.USAGE, 'the API token holds whitespace; the file should hold the token alone'),
  LW_CLI_CREDENTIALS: def('LW_CLI_CREDENTIALS', EXIT.USAGE, 'the credential of routes add cannot be read (file, stdin or variable), or is empty'),
  LW_CLI_DEMO_NGINX: def('LW_CLI_DEMO_NGINX', EXIT.FAILURE, 'the demo needs nginx with the Lua module and could not start it'),
  LW_CLI_DEMO_TOKEN: def('LW_CLI_DEMO_TOKEN', EXIT.AUTH, 'the running instance refused the demo\'s token, or none was given'),
  LW_CLI_DEMO_STREAM: def('LW_CLI_DEMO_STREAM', EXIT.FAILURE, 'the live event stream of the running instance broke (the demo reconnects)'),
  LW_CLI_DEMO_NOT_LOOPBACK: def('LW_CLI_DEMO_NOT_LOOPBACK', EXIT.USAGE, 'the demo sends traffic to loopback only'),
  LW_CLI_NO_TOKEN: def(
    'LW_CLI_NO_TOKEN',
    EXIT.AUTH,
    'no API token: set LOGWARDEN_TOKEN or --token-file FILE (logwarden token makes one; embedded mode prints one at its first start)',
  ),
});

export type CliErrorCode = keyof typeof CLI_ERRORS;

export class CliError extends LogwardenError {
  declare readonly code: CliErrorCode;
  readonly exitCode: number;

  constructor(code: CliErrorCode, message?: string) {
    const d = CLI_ERRORS[code];
    super(d, message);
    this.exitCode = d.exitCode;
  }
}

/** A mistake in the command line: exit 2 with the message. */
export class UsageError extends CliError {
  constructor(message: string) {
    super('LW_CLI_USAGE', message);
  }
}
