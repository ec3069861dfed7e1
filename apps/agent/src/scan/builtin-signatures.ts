// Built-in signatures that work without any YARA rules (or without libyara at all): the EICAR
// anti-malware test file and a sha256 blocklist. Pure functions over bytes and text.

// Assembled from two halves so this source file is not itself the test file's signature.
const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$' + 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*', 'latin1');

export const EICAR_SIGNATURE_NAME = 'EICAR-Test-File';

/**
 * The EICAR test file as scanners define it: the 68-byte string at the very start, optionally
 * followed by whitespace, the whole file at most 128 bytes.
 */
export function isEicar(data: Uint8Array): boolean {
  if (data.length < EICAR.length || data.length > 128) return false;
  for (let i = 0; i < EICAR.length; i++) if (data[i] !== EICAR[i]) return false;
  for (let i = EICAR.length; i < data.length; i++) {
    const b = data[i];
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x1a) return false;
  }
  return true;
}

export interface HashBlocklist {
  readonly size: number;
  has(sha256: string): boolean;
  /** Optional label per hash (text after the hash on its line). */
  label(sha256: string): string | undefined;
}

export interface BlocklistParse {
  blocklist: HashBlocklist;
  errors: { line: number; message: string }[];
}

/**
 * Parses sha256 lines: `HEX [label…]`, `#` comments and blank lines ignored; `sha256sum` output
 * (`HEX  path`) works as is. Bad lines are reported with their number, the rest still load.
 */
export function parseHashBlocklist(text: string): BlocklistParse {
  const map = new Map<string, string | undefined>();
  const errors: { line: number; message: string }[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [hash = '', ...rest] = line.split(/\s+/);
    if (!/^[0-9a-fA-F]{64}$/.test(hash)) {
      errors.push({ line: i + 1, message: `not a sha256 (64 hex digits): ${JSON.stringify(hash.slice(0, 80))}` });
      return;
    }
    const label = rest.join(' ').replace(/^\*/, '');
    map.set(hash.toLowerCase(), label || undefined);
  });
  return {
    blocklist: { size: map.size, has: (h) => map.has(h), label: (h) => map.get(h) },
    errors,
  };
}

export const EMPTY_BLOCKLIST: HashBlocklist = { size: 0, has: () => false, label: () => undefined };
