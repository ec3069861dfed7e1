import { randomBytes } from 'node:crypto';

/** Time-ordered random ids (48-bit ms time + 64 random bits, hex): sortable, unguessable enough for row ids. */
export function newId(now: number = Date.now()): string {
  return now.toString(16).padStart(12, '0') + randomBytes(8).toString('hex');
}
