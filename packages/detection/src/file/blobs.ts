// Linear-time finders for encoded blobs (base64, hex) in text or in a binary read as latin1.
// Regular expressions with long counted repetitions backtrack O(n·run) on near misses; these scan
// each character once.
import { entropy } from './entropy.ts';

/** Bits per character of base64-encoded random or compressed data approach 6; prose and word lists stay below. */
export const BASE64_MIN_ENTROPY = 5.5;

const B64 = new Uint8Array(256);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64[ch.charCodeAt(0)] = 1;
const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

/** A run long enough to matter holds at least one line this long (base64 is wrapped at 60–76). */
const SEED = /[A-Za-z0-9+/]{32}/g;
const isB64OrBreak = (c: number): boolean => B64[c] === 1 || c === 10 || c === 13;

/**
 * The first run of ≥ minRun base64 characters (line breaks allowed inside) whose characters are
 * spread like encoded data (≥ BASE64_MIN_ENTROPY bits per character): word lists, digit tables
 * and hex constants are not. Works on text or on raw bytes (a binary's strings, read as latin1).
 * Runs are found from seeds of 32 unbroken characters (a regular expression, several times
 * faster than a loop over every character in JavaScript), then measured exactly.
 */
export function findBase64Blob(input: string | Uint8Array, minRun: number): string | undefined {
  const s = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1');
  const n = s.length;
  const seed = minRun >= 32 ? SEED : new RegExp(`[A-Za-z0-9+/]{${Math.max(1, minRun)}}`, 'g');
  seed.lastIndex = 0;
  for (let m = seed.exec(s); m; m = seed.exec(s)) {
    let start = m.index;
    while (start > 0 && isB64OrBreak(s.charCodeAt(start - 1))) start--;
    while (B64[s.charCodeAt(start)] !== 1) start++; // a run starts at a base64 character
    let count = 0;
    let end = start;
    for (; end < n; end++) {
      const c = s.charCodeAt(end);
      if (B64[c] === 1) count++;
      else if (c !== 10 && c !== 13) break;
    }
    if (count >= minRun) {
      const run = s.slice(start, Math.min(end, start + 65536)).replace(/[\r\n]/g, '');
      if (entropy(Buffer.from(run, 'latin1')) >= BASE64_MIN_ENTROPY) return run;
    }
    seed.lastIndex = end;
  }
  return undefined;
}

/**
 * The first run holding ≥ minDigits hex digits, written plain (`4f5a…`), as `\x4f\x5a`, or as a
 * list (`0x4f, 0x5a`), with letters among the digits (a run of decimal numbers is not hex data).
 */
export function findHexBlob(s: string, minDigits: number): string | undefined {
  let start = -1;
  let digits = 0;
  let letters = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0;
    const hex = isHex(c);
    // separators allowed inside a run: \x, 0x, commas, spaces, line breaks
    const sep = c === 92 || c === 120 || c === 44 || c === 32 || c === 9 || c === 10 || c === 13;
    if (hex || (start >= 0 && sep)) {
      if (start < 0) start = i;
      if (hex) {
        digits++;
        if (c >= 65) letters++;
      }
      continue;
    }
    if (digits >= minDigits && letters >= digits / 10) return s.slice(start, Math.min(i, start + 65536)).trim();
    start = -1;
    digits = 0;
    letters = 0;
  }
  return undefined;
}
