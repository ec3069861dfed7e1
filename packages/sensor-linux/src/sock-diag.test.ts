// sock_diag dumps against real sockets of this process (no root needed for our own sockets).
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { formatIpv6, loadLinuxSensors, stateMask, TcpState } from './index.ts';

const loaded = loadLinuxSensors();
const skip = loaded.available ? false : process.env['YAMORI_SENSOR_OPTIONAL'] === '1' ? loaded.reason : false;

const listen = (host: string) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer(() => undefined);
    s.once('error', reject);
    s.listen(0, host, () => resolve(s));
  });
const dial = (host: string, port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const c = connect(port, host, () => resolve(c));
    c.once('error', reject);
  });
const ownSocketInodes = () =>
  new Set(
    readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
        return m ? [Number(m[1])] : [];
      } catch {
        return [];
      }
    }),
  );

void describe('sock_diag dump', { skip }, () => {
  if (!loaded.available) throw new Error(`sensor addon unavailable: ${loaded.reason}`);
  const sensors = loaded.sensors;

  for (const [family, host] of [
    [4, '127.0.0.1'],
    [6, '::1'],
  ] as const) {
    void it(`IPv${family}: the listener and both ends of a connection, with our inodes and stable cookies`, async () => {
      const server = await listen(host);
      const port = (server.address() as { port: number }).port;
      const client = await dial(host, port);
      try {
        const q = { family, protocol: 'tcp' as const };
        const dump = sensors.dumpSockets(q);
        const mine = ownSocketInodes();
        const listener = dump.find((s) => s.state === TcpState.LISTEN && s.localPort === port);
        assert.ok(listener);
        assert.equal(listener.localAddress, host);
        assert.ok(mine.has(listener.inode), 'the listener inode is one of our fds');
        const out = dump.find((s) => s.remotePort === port && s.localPort === client.localPort);
        assert.ok(out, 'the client end');
        assert.equal(out.state, TcpState.ESTABLISHED);
        assert.equal(out.remoteAddress, host);
        assert.ok(mine.has(out.inode));
        assert.equal(out.uid, process.getuid?.());
        const accepted = dump.find((s) => s.localPort === port && s.remotePort === client.localPort);
        assert.ok(accepted, 'the accepted end');
        assert.notEqual(accepted.cookie, out.cookie);
        const again = sensors.dumpSockets({ ...q, states: stateMask(TcpState.ESTABLISHED) });
        assert.ok(
          again.every((s) => s.state === TcpState.ESTABLISHED),
          'the state mask filters in the kernel',
        );
        assert.equal(
          again.find((s) => s.inode === out.inode)?.cookie,
          out.cookie,
          'cookies are stable across dumps',
        );
      } finally {
        client.destroy();
        server.close();
      }
    });
  }

  void it('bad arguments throw instead of crashing', () => {
    assert.throws(() => sensors.dumpSockets({ family: 5 as 4, protocol: 'tcp' }), /family/);
    assert.throws(() => sensors.dumpSockets({ family: 4, protocol: 'sctp' as 'tcp' }), /protocol/);
  });
});

void it('IPv6 addresses print in RFC 5952 form', () => {
  const b = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));
  assert.equal(formatIpv6(b('00000000000000000000000000000001')), '::1');
  assert.equal(formatIpv6(b('00000000000000000000000000000000')), '::');
  assert.equal(formatIpv6(b('20010db8000000000001000000000001')), '2001:db8::1:0:0:1');
  assert.equal(formatIpv6(b('20010db800000000000000000000abcd')), '2001:db8::abcd');
  assert.equal(formatIpv6(b('20010db8000100020003000400050006')), '2001:db8:1:2:3:4:5:6');
  assert.equal(
    formatIpv6(b('20010db8000000010001000100010001')),
    '2001:db8:0:1:1:1:1:1',
    'a single zero group stays',
  );
  assert.equal(formatIpv6(b('00000000000000000000ffff7f000001')), '::ffff:7f00:1');
});
