/** Shannon entropy of a byte string, in bits per byte (0 … 8). */
export function shannonEntropy(bytes: Uint8Array): number {
  if (bytes.length === 0) return 0;
  const counts = new Uint32Array(256);
  for (const b of bytes) counts[b] = (counts[b] ?? 0) + 1;
  let h = 0;
  for (const c of counts) {
    if (c === 0) continue;
    const p = c / bytes.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Random-looking content: what encryption or compression leaves behind. */
export const HIGH_ENTROPY = 7.2;
/** Files smaller than this say little about their entropy. */
export const MIN_ENTROPY_BYTES = 512;
