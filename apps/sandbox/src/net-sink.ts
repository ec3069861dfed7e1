/**
 * The network sink, run by the detonation worker as its own process inside the sample's
 * network namespace (`unshare --net -- node net-sink.ts --uid U --gid G`). The namespace has
 * only a loopback interface, and the worker routes every IPv4/IPv6 address to it
 * (`ip route add local 0.0.0.0/0 dev lo`), so whatever the sample dials lands here:
 *
 *  - UDP 53: a fake DNS server answering every A query with a per-name sink address
 *    (198.18.0.0/15), every other query with an empty answer;
 *  - a set of TCP ports: HTTP (request line, Host → URL), TLS (ClientHello SNI), anything else
 *    recorded as a connection.
 *
 * Each observation is one JSON line on stdout. Binds first, then drops to an unprivileged
 * uid/gid distinct from the sample's, so the sample can neither kill it nor rewrite its log.
 */
import { createSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import {
  DNS_A,
  buildDnsAnswer,
  createAddressBook,
  httpUrl,
  parseDnsQuery,
  parseHttpHead,
  parseTlsSni,
} from './sink-protocols.ts';

export const SINK_TCP_PORTS = [
  21, 22, 23, 25, 53, 80, 110, 143, 443, 445, 465, 587, 993, 995, 1080, 1337, 3128, 3389, 4444, 5555, 6667,
  8000, 8080, 8443, 8888, 9001, 31337,
];

function emit(rec: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(rec)}\n`);
}

function plainIp(ip: string | undefined): string {
  return (ip ?? '').replace(/^::ffff:/, '');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { uid: { type: 'string' }, gid: { type: 'string' } } });
  const book = createAddressBook();

  const listenAll = async (make: () => Server, port: number): Promise<void> => {
    for (const host of ['::', '0.0.0.0']) {
      const srv = make();
      const ok = await new Promise<boolean>((resolve) => {
        srv.once('error', () => resolve(false));
        srv.listen({ port, host, ipv6Only: false }, () => resolve(true));
      });
      if (ok) return;
    }
    emit({ kind: 'sink-error', message: `cannot listen on tcp/${port}` });
  };

  const handle = (sock: Socket): void => {
    const ip = plainIp(sock.localAddress);
    const port = sock.localPort ?? 0;
    const domain = book.nameFor(ip);
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (rec: Record<string, unknown> | null): void => {
      if (done) return;
      done = true;
      emit(rec ?? { kind: 'connect', ip, port, domain });
      if (rec?.['kind'] === 'http')
        sock.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      else sock.destroy();
    };
    sock.setTimeout(1500, () => finish(null));
    sock.on('error', () => finish(null));
    sock.on('end', () => finish(null));
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]).subarray(0, 32768);
      if (buf[0] === 0x16) {
        const sni = parseTlsSni(buf);
        if (sni !== undefined) finish({ kind: 'tls', ip, port, domain, sni });
        return;
      }
      const head = parseHttpHead(buf);
      if (head === undefined && buf.length < 32768) return;
      if (head) {
        const url = httpUrl(head, domain ?? ip, port === 443 || port === 8443 ? 'https' : 'http');
        finish({
          kind: 'http',
          ip,
          port,
          domain: head.host?.replace(/:\d+$/, '') ?? domain,
          url,
          method: head.method,
          userAgent: head.userAgent,
        });
      } else finish(null);
    });
  };

  for (const port of SINK_TCP_PORTS) await listenAll(() => createServer(handle), port);

  for (const type of ['udp6', 'udp4'] as const) {
    const dns = createSocket({ type, ipv6Only: false });
    const bound = await new Promise<boolean>((resolve) => {
      dns.once('error', () => resolve(false));
      dns.bind(53, type === 'udp6' ? '::' : '0.0.0.0', () => resolve(true));
    });
    if (!bound) {
      dns.close();
      continue;
    }
    dns.on('message', (msg, rinfo) => {
      const q = parseDnsQuery(msg);
      if (!q) return;
      const ip = q.qtype === DNS_A ? book.addressFor(q.name) : null;
      emit({ kind: 'dns', domain: q.name, qtype: q.qtype, ip });
      dns.send(buildDnsAnswer(msg, q, ip), rinfo.port, rinfo.address);
    });
    break;
  }

  if (values.gid !== undefined && values.uid !== undefined && process.getuid?.() === 0) {
    process.setgroups?.([]);
    process.setgid?.(Number(values.gid));
    process.setuid?.(Number(values.uid));
  }
  emit({ kind: 'ready', uid: process.getuid?.() ?? -1 });
  process.on('SIGTERM', () => process.exit(0));
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

await main();
