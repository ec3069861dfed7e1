// Shannon entropy in bits per byte (0 = constant, 8 = random or compressed/encrypted).

/** Adds the bytes to a 256-bin histogram. */
export function addToHistogram(hist: Float64Array, bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) hist[bytes[i]!]!++;
}

export function histogramEntropy(hist: Float64Array): number {
  let total = 0;
  for (let i = 0; i < 256; i++) total += hist[i]!;
  if (total === 0) return 0;
  let h = 0;
  for (let i = 0; i < 256; i++) {
    const c = hist[i]!;
    if (c > 0) {
      const p = c / total;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

export function entropy(bytes: Uint8Array): number {
  const hist = new Float64Array(256);
  addToHistogram(hist, bytes);
  return histogramEntropy(hist);
}
