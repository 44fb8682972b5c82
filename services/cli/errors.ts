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
  LW_CLI_NODE_UNREACHABLE: def('LW_CLI_NODE_UNREACHABLE', EXIT.FAILURE, 'check-node: nothing answers at the node\'s control URL (nginx stopped, another address or port, a firewall)'),
  LW_CLI_NODE_NOT_LOGWARDEN: def(
    'LW_CLI_NODE_NOT_LOGWARDEN',
    EXIT.FAILURE,
    'check-node: something else answers at the control URL: not logwarden-control.conf\'s listener (not included, another port, or the Lua module not loaded)',
  ),
  LW_CLI_NODE_REMOTE_REFUSED: def('LW_CLI_NODE_REMOTE_REFUSED', EXIT.AUTH, 'check-node: the control listener answers loopback callers only ($logwarden_control_allow_remote is off)'),
  LW_CLI_NODE_SECRET_UNSET: def('LW_CLI_NODE_SECRET_UNSET', EXIT.FAILURE, 'check-node: the node has no control secret ($logwarden_control_secret empty or under 16 characters): every call gets 503'),
  LW_CLI_NODE_NO_SECRET: def('LW_CLI_NODE_NO_SECRET', EXIT.USAGE, 'check-node: no secret to sign with (--secret-file FILE, or the variable of --secret-env, default LOGWARDEN_NODE_SECRET)'),
  LW_CLI_NODE_WRONG_SECRET: def('LW_CLI_NODE_WRONG_SECRET', EXIT.AUTH, 'check-node: the node refused the signature: its secret is not the one given'),
  LW_CLI_NODE_CLOCK_SKEW: def('LW_CLI_NODE_CLOCK_SKEW', EXIT.AUTH, 'check-node: the node\'s clock and this one differ by more than 60 s; signed calls are refused'),
  LW_CLI_NODE_NOT_LISTED: def('LW_CLI_NODE_NOT_LISTED', EXIT.FAILURE, 'check-node: no nodes: entry of the API\'s configuration has this URL: no enforcer there pushes to the node'),
  LW_CLI_NODE_NO_LOGS: def('LW_CLI_NODE_NO_LOGS', EXIT.FAILURE, 'check-node: the ingester has received no recent line from the node (syslog address, firewall, or a server without the syslog line)'),
  LW_CLI_NODE_NO_ACCESS_CHECK: def(
    'LW_CLI_NODE_NO_ACCESS_CHECK',
    EXIT.FAILURE,
    'check-node: requests are logged but not checked: a server {} has the syslog line without the access check (include logwarden-server.conf whole)',
  ),
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
