// token: local — makes an API token and its api.tokens entry (only the
// hash), prints the token once, and calls nothing.
import { hashToken, newToken } from '../../../shared/auth/tokens.js';
import { UsageError } from '../errors.js';
import { positionals, type LocalCommand } from './common.js';

export const token: LocalCommand = {
  options: ['name', 'role'],
  run(args, opts, io) {
    positionals(args, 0, 0, 'token --name NAME --role admin|analyst');
    const name = opts.name;
    if (name === undefined || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) throw new UsageError('token needs --name NAME (letters, digits, _ . -)');
    if (opts.role !== 'admin' && opts.role !== 'analyst') throw new UsageError('token needs --role admin or --role analyst');
    const t = newToken();
    const hash = hashToken(t);
    const entry = `{ name: ${name}, role: ${opts.role}, hash: "${hash}" }`;
    if (opts.json) return io.out(`${JSON.stringify({ name, role: opts.role, token: t, hash })}\n`);
    io.out(
      [
        `token for ${name} (${opts.role}) — shown only this once; logwarden keeps only its hash:`,
        `  ${t}`,
        '',
        'add to the api.tokens list of logwarden.yaml, then restart the API:',
        '  api:',
        '    tokens:',
        `      - ${entry}`,
        '',
        'use it with LOGWARDEN_TOKEN=<token> or --token-file FILE (mode 600), not on a command line.',
        '',
      ].join('\n'),
    );
  },
};
