/**
 * A Bloom filter over the values that have (or had) a verdict, so lookups of unknown values —
 * most lookups: agents ask about what they do not know — are answered without touching the
 * database. False positives only cost a database read; there are no false negatives as long as
 * every value with a verdict was added. Pure.
 */
export class KnownFilter {
  readonly capacity: number;
  private readonly bits: Uint32Array;
  private readonly mask: number;
  private readonly k = 7;
  count = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1 << 16, capacity);
    let m = 1;
    while (m < this.capacity * 10) m <<= 1; // ~10 bits per value: about 1% false positives at capacity
    this.bits = new Uint32Array(m >>> 5);
    this.mask = m - 1;
  }

  add(type: string, value: string): void {
    const [a, b] = hashes(type, value);
    for (let i = 0; i < this.k; i++) {
      const bit = (a + Math.imul(i, b)) & this.mask;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.count++;
  }

  mightContain(type: string, value: string): boolean {
    const [a, b] = hashes(type, value);
    for (let i = 0; i < this.k; i++) {
      const bit = (a + Math.imul(i, b)) & this.mask;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** Two 32-bit hashes for double hashing: a sha256 value is already uniform; others get FNV-1a. */
function hashes(type: string, value: string): [number, number] {
  if (type === 'sha256' && value.length === 64) {
    return [parseInt(value.slice(0, 8), 16) | 0, parseInt(value.slice(8, 16), 16) | 1];
  }
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  const s = `${type}:${value}`;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  return [h1 | 0, (h2 ^ (h2 >>> 15)) | 1];
}
