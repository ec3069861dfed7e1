import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';

/**
 * Samples at rest: AES-256-GCM with a random IV per blob and the sha256 as associated data, so a
 * blob cannot be swapped for another hash's row. Layout: "YS1" | iv(12) | tag(16) | ciphertext.
 */
const MAGIC = Buffer.from('YS1');

export function encryptSample(key: Buffer, sha256: string, plain: Uint8Array): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(sha256));
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([MAGIC, iv, c.getAuthTag(), body]);
}

export function decryptSample(key: Buffer, sha256: string, blob: Uint8Array): Buffer {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (b.length < 31 || !b.subarray(0, 3).equals(MAGIC)) throw new Error('sample blob has an unknown format');
  const d = createDecipheriv('aes-256-gcm', key, b.subarray(3, 15));
  d.setAAD(Buffer.from(sha256));
  d.setAuthTag(b.subarray(15, 31));
  return Buffer.concat([d.update(b.subarray(31)), d.final()]);
}

/** Reads the 32-byte key file, creating it (mode 0600) when missing and tightening looser permissions. */
export function loadOrCreateSampleKey(path: string): Buffer {
  if (!existsSync(path)) {
    writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) chmodSync(path, 0o600);
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'hex');
  if (key.length !== 32) throw new Error(`sample key file ${path} must hold 64 hex digits (a 256-bit key)`);
  return key;
}
