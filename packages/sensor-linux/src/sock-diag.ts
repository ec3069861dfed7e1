// The typed face of the sock_diag dump (native/sockdiag.c): a view over the addon's fixed
// 64-byte records. Numbers are read at once; addresses are formatted only when asked, so a
// poller that diffs thousands of sockets by cookie formats only the new ones.
import type { NativeAddon } from './native.ts';
import type { SocketEntry, SocketQuery } from './types.ts';

/** Kernel TCP states (include/net/tcp_states.h); UDP uses ESTABLISHED (connected) and CLOSE. */
export const TcpState = {
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT1: 4,
  FIN_WAIT2: 5,
  TIME_WAIT: 6,
  CLOSE: 7,
  CLOSE_WAIT: 8,
  LAST_ACK: 9,
  LISTEN: 10,
  CLOSING: 11,
  NEW_SYN_RECV: 12,
} as const;

export const stateMask = (...states: number[]): number => states.reduce((m, s) => (m | (1 << s)) >>> 0, 0);

const RECORD = 64;

/** RFC 5952 text form: lowercase, longest run (≥ 2) of zero groups as '::', leftmost on ties. */
export function formatIpv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(':');
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

const formatIpv4 = (b: Uint8Array, at: number): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

class DiagSocket implements SocketEntry {
  readonly family: 4 | 6;
  readonly protocol: 'tcp' | 'udp';
  readonly state: number;
  readonly uid: number;
  readonly inode: number;
  readonly localPort: number;
  readonly remotePort: number;
  readonly cookie: number;
  #buf: Buffer;
  #at: number;

  constructor(buf: Buffer, at: number) {
    this.#buf = buf;
    this.#at = at;
    this.family = buf[at] === 10 ? 6 : 4;
    this.protocol = buf[at + 1] === 17 ? 'udp' : 'tcp';
    this.state = buf[at + 2] ?? 0;
    this.uid = buf.readUInt32LE(at + 4);
    this.inode = buf.readUInt32LE(at + 8);
    this.localPort = buf.readUInt16LE(at + 12);
    this.remotePort = buf.readUInt16LE(at + 14);
    // a boot-wide counter: exact as a number up to 2^53 sockets
    this.cookie = buf.readUInt32LE(at + 48) + buf.readUInt32LE(at + 52) * 0x1_0000_0000;
  }

  #addr(off: number): string {
    const at = this.#at + off;
    return this.family === 4 ? formatIpv4(this.#buf, at) : formatIpv6(this.#buf.subarray(at, at + 16));
  }

  get localAddress(): string {
    return this.#addr(16);
  }

  get remoteAddress(): string {
    return this.#addr(32);
  }
}

export function dumpSockets(addon: NativeAddon, q: SocketQuery): SocketEntry[] {
  const buf = addon.sockDiagDump(q.family, q.protocol, (q.states ?? 0xffffffff) >>> 0);
  const out: SocketEntry[] = new Array<SocketEntry>(buf.length / RECORD);
  for (let i = 0, at = 0; at + RECORD <= buf.length; i++, at += RECORD) out[i] = new DiagSocket(buf, at);
  return out;
}
