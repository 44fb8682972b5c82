// The signing keys of the CHALLENGE cookie (lua/logwarden/challenge.lua).
// Nothing is stored: each key is derived from a node's shared secret and the
// rotation period it belongs to, so every enforcer of a fleet (one per edge,
// or one for all) pushes the same key to the nodes that share a secret, a
// cookie earned at one node passes at the others, and a restart changes
// nothing. The current key signs; the previous period's is still accepted,
// so a rotation does not challenge every client again. Keys are secrets: they
// go to nodes only inside signed control calls, never to a log.
import { createHmac } from 'node:crypto';

export interface ChallengeKeys {
  /** The rotation period: floor(now / rotation). */
  period: number;
  /** Current, then previous (hex, 64 characters). */
  keys: [string, string];
}

export function challengeKeys(nodeSecret: string, rotationMs: number, now = Date.now()): ChallengeKeys {
  const period = Math.floor(now / rotationMs);
  const key = (p: number): string => createHmac('sha256', nodeSecret).update(`logwarden-challenge\n${rotationMs}\n${p}`).digest('hex');
  return { period, keys: [key(period), key(period - 1)] };
}
