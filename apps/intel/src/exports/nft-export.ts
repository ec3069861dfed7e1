import { asCidr, formatIp, maskBytes } from '../indicators/normalise.ts';
import type { ExportRow } from './export-row.ts';

/**
 * An nftables file (`nft -f`): table `inet yamori` with interval sets `blocklist_v4` and
 * `blocklist_v6`, replaced atomically on every load; optionally drop chains using them.
 * Overlapping IPs/CIDRs are merged first, since interval sets refuse overlaps. Pure.
 */
export function renderNft(rows: readonly ExportRow[], now: number, chains = false): string {
  const v4: [bigint, bigint][] = [];
  const v6: [bigint, bigint][] = [];
  for (const r of rows) {
    if (r.type !== 'ip' && r.type !== 'cidr') continue;
    const c = asCidr(r.value);
    if (!c) continue;
    const bits = c.family === 4 ? 32 : 128;
    const lo = toBig(maskBytes(c.bytes, c.prefix));
    const hi = lo + (1n << BigInt(bits - c.prefix)) - 1n;
    (c.family === 4 ? v4 : v6).push([lo, hi]);
  }
  const set = (name: string, type: string, ranges: [bigint, bigint][], bytes: number) => {
    const merged = merge(ranges);
    const elems = merged.map(([lo, hi]) => rangeText(lo, hi, bytes));
    const lines = [`\tset ${name} {`, `\t\ttype ${type}`, '\t\tflags interval'];
    if (elems.length > 0) lines.push(`\t\telements = {\n\t\t\t${chunk(elems, 8).map((l) => l.join(', ')).join(',\n\t\t\t')}\n\t\t}`);
    lines.push('\t}');
    return lines.join('\n');
  };
  const out = [
    `# Yamori intel blocklist, ${new Date(now).toISOString()}. Load with: nft -f FILE`,
    '# (re)creates table inet yamori atomically; reference @blocklist_v4 / @blocklist_v6 from your rules.',
    'table inet yamori',
    'delete table inet yamori',
    'table inet yamori {',
    set('blocklist_v4', 'ipv4_addr', v4, 4),
    set('blocklist_v6', 'ipv6_addr', v6, 16),
  ];
  if (chains) {
    for (const [hook, dir] of [
      ['input', 'saddr'],
      ['forward', 'daddr'],
      ['output', 'daddr'],
    ] as const) {
      out.push(
        `\tchain ${hook} {`,
        `\t\ttype filter hook ${hook} priority filter - 5; policy accept;`,
        `\t\tip ${dir} @blocklist_v4 counter drop`,
        `\t\tip6 ${dir} @blocklist_v6 counter drop`,
        ...(hook === 'forward' ? ['\t\tip saddr @blocklist_v4 counter drop', '\t\tip6 saddr @blocklist_v6 counter drop'] : []),
        '\t}',
      );
    }
  }
  out.push('}');
  return out.join('\n') + '\n';
}

function toBig(b: Uint8Array): bigint {
  let x = 0n;
  for (const byte of b) x = (x << 8n) | BigInt(byte);
  return x;
}

function fromBig(x: bigint, bytes: number): Uint8Array {
  const b = new Uint8Array(bytes);
  for (let i = bytes - 1; i >= 0; i--) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
}

export function merge(ranges: [bigint, bigint][]): [bigint, bigint][] {
  const sorted = [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1n) {
      if (hi > last[1]) last[1] = hi;
    } else out.push([lo, hi]);
  }
  return out;
}

function rangeText(lo: bigint, hi: bigint, bytes: number): string {
  const size = hi - lo + 1n;
  if (size === 1n) return formatIp(fromBig(lo, bytes));
  // an aligned power of two is a CIDR
  if ((size & (size - 1n)) === 0n && lo % size === 0n) {
    const prefix = bytes * 8 - (size.toString(2).length - 1);
    return `${formatIp(fromBig(lo, bytes))}/${prefix}`;
  }
  return `${formatIp(fromBig(lo, bytes))}-${formatIp(fromBig(hi, bytes))}`;
}

function chunk<T>(list: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += n) out.push(list.slice(i, i + n));
  return out;
}
