// The version of this logwarden, from package.json: one place for the CLI,
// the API's probes and its OpenAPI document.
import { readFileSync } from 'node:fs';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
