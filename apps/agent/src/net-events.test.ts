import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { AnyEvent, parseWith, type NetworkEvent } from '@yamori/protocol';
import { createFakeSensors, loadLinuxSensors, TcpState, type SocketEntry } from '@yamori/sensor-linux';
import { createNetEventSource, createSocketOwners, direction, unmapIpv4 } from './net-events.ts';
import { createProcReader } from './proc-reader.ts';
import { entityId } from './process-tree.ts';

const isRoot = process.getuid?.() === 0;
const loaded = loadLinuxSensors();
const realSkip = !isRoot
  ? 'needs root (reads every process /proc/PID/fd)'
  : !loaded.available && process.env['YAMORI_SENSOR_OPTIONAL'] === '1'
    ? loaded.reason
    : false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `done` holds (or 10 s): no timing assertion, only a bound on a hung test. */
async function pollUntil(
  poll: () => NetworkEvent[],
  done: (all: NetworkEvent[]) => boolean,
): Promise<NetworkEvent[]> {
  const all: NetworkEvent[] = [];
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    all.push(...poll());
    if (done(all)) return all;
    await sleep(20);
  }
  return all;
}

function listen(host: string): Promise<{ server: Server; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  return new Promise((resolve, reject) => {
    const server = createServer((s) => accepted.push(s));
    server.once('error', reject);
    server.listen(0, host, () =>
      resolve({ server, port: (server.address() as { port: number }).port, accepted }),
    );
  });
}

/** bash opens the connection itself (/dev/tcp) and waits on it until the test closes the server side. */
function bashConnect(host: string, port: number): ChildProcess {
  return spawn('bash', ['-c', `exec 3<>/dev/tcp/${host}/${port}; read -r _ <&3`], { stdio: 'ignore' });
}

void describe('network connections on the real kernel', { skip: realSkip }, () => {
  if (!loaded.available) throw new Error(`sensor addon unavailable: ${loaded.reason}`);
  const sensors = loaded.sensors;
  const boot = createProcReader().bootId();

  for (const host of ['127.0.0.1', '::1']) {
    void it(`TCP over ${host}: one egress event for the connecting child, one ingress for the listener`, async () => {
      const { server, port, accepted } = await listen(host);
      const source = createNetEventSource({ sensors });
      const seen: NetworkEvent[] = [];
      await source.start((e) => seen.push(e));
      const child = bashConnect(host, port);
      const childPid = child.pid;
      assert.ok(childPid);
      try {
        const mine = (e: NetworkEvent) => e.destination.port === port;
        const events = await pollUntil(
          () => source.pollOnce(),
          (all) =>
            all.some((e) => mine(e) && e.network.direction === 'egress') &&
            all.some((e) => mine(e) && e.network.direction === 'ingress'),
        );
        const childExe = readlinkSync(`/proc/${childPid}/exe`);
        const childTicks = createProcReader().startTicks(childPid);
        // the connection lives on through more polls, then closes (TIME_WAIT): still reported once
        for (let i = 0; i < 3; i++) events.push(...source.pollOnce());
        for (const s of accepted) s.destroy();
        await new Promise((r) => child.once('exit', r));
        for (let i = 0; i < 3; i++) events.push(...source.pollOnce());

        const egress = events.filter((e) => mine(e) && e.network.direction === 'egress');
        const ingress = events.filter((e) => mine(e) && e.network.direction === 'ingress');
        assert.equal(egress.length, 1, JSON.stringify(events.filter(mine)));
        assert.equal(ingress.length, 1, JSON.stringify(events.filter(mine)));
        const out = egress[0] as NetworkEvent;
        const inn = ingress[0] as NetworkEvent;
        assert.equal(out.process?.pid, childPid);
        assert.equal(out.process?.executable, childExe);
        assert.equal(out.process?.name, 'bash');
        assert.equal(
          out.process?.entity_id,
          entityId(boot, childPid, childTicks ?? -1),
          'the process tree entity id',
        );
        assert.equal(out.network.transport, 'tcp');
        assert.equal(out.network.type, host.includes(':') ? 'ipv6' : 'ipv4');
        assert.equal(out.source.ip, host);
        assert.equal(out.destination.ip, host);
        assert.equal(out.event.action, 'connection_attempted');
        assert.equal(inn.process?.pid, process.pid, 'the test process accepted it');
        assert.equal(inn.process?.executable, realpathSync(process.execPath));
        assert.deepEqual(inn.source, out.source, 'source is the initiator on both sides');
        assert.deepEqual(inn.destination, out.destination);
        assert.equal(inn.event.action, 'connection_accepted');
        for (const e of [out, inn]) parseWith(AnyEvent, e, 'network event');
        assert.ok(seen.includes(out) && seen.includes(inn), 'the listener got them');
        assert.equal(source.state().state, 'active', source.state().reason);
      } finally {
        child.kill();
        await source.stop();
        server.close();
      }
      assert.equal(source.state().state, 'off');
    });
  }

  void it('a connected UDP socket is one egress event; connections that existed at start are not reported', async () => {
    const { server, port } = await listen('127.0.0.1');
    const old = await new Promise<Socket>((resolve, reject) => {
      const c = connect(port, '127.0.0.1', () => resolve(c));
      c.once('error', reject);
    });
    const source = createNetEventSource({ sensors });
    await source.start(() => undefined);
    const udp = createSocket('udp4');
    try {
      const udpPort = port; // nothing listens on UDP there: connect() needs no peer
      await new Promise<void>((r) => udp.connect(udpPort, '127.0.0.1', () => r()));
      const events = await pollUntil(
        () => source.pollOnce(),
        (all) => all.some((e) => e.network.transport === 'udp' && e.destination.port === udpPort),
      );
      const u = events.filter((e) => e.network.transport === 'udp' && e.destination.port === udpPort);
      assert.equal(u.length, 1);
      assert.equal(u[0]?.network.direction, 'egress');
      assert.equal(u[0]?.process?.pid, process.pid);
      assert.equal(
        events.filter((e) => e.network.transport === 'tcp' && e.destination.port === port).length,
        0,
        'the TCP connection made before start is not new',
      );
    } finally {
      udp.close();
      old.destroy();
      await source.stop();
      server.close();
    }
  });
});

// ---------- logic on the fake sensors ----------

let nextCookie = 1;
function sock(p: Partial<Omit<SocketEntry, 'cookie'>> & { cookie?: number }): SocketEntry {
  return {
    family: 4,
    protocol: 'tcp',
    state: TcpState.ESTABLISHED,
    uid: 0,
    inode: 0,
    localAddress: '10.0.0.1',
    localPort: 40000,
    remoteAddress: '192.0.2.7',
    remotePort: 443,
    cookie: p.cookie ?? nextCookie++,
    ...p,
  };
}

void it('direction: SYN_SENT is egress; an established socket on a listening port (or wildcard) is ingress', () => {
  const listeners = new Map([
    [22, ['0.0.0.0']],
    [8080, ['127.0.0.1']],
  ]);
  assert.equal(direction(sock({ state: TcpState.SYN_SENT, localPort: 22 }), listeners), 'egress');
  assert.equal(direction(sock({ localPort: 22 }), listeners), 'ingress');
  assert.equal(direction(sock({ localPort: 8080, localAddress: '127.0.0.1' }), listeners), 'ingress');
  assert.equal(direction(sock({ localPort: 8080, localAddress: '10.0.0.1' }), listeners), 'egress');
  assert.equal(
    direction(sock({ family: 6, localPort: 8080, localAddress: '::ffff:7f00:1' }), listeners),
    'ingress',
  );
  assert.equal(direction(sock({ protocol: 'udp', localPort: 22 }), listeners), 'egress');
  assert.equal(unmapIpv4('::ffff:c000:207'), '192.0.2.7');
  assert.equal(unmapIpv4('2001:db8::1'), '2001:db8::1');
});

void it('each socket is reported once through its states; TIME_WAIT without a seen socket is reported without a process', async () => {
  const fake = createFakeSensors();
  const described: number[] = [];
  const source = createNetEventSource({
    sensors: fake,
    describeProcess: (pid) => (described.push(pid), { pid, name: 'curl', executable: '/usr/bin/curl' }),
    procRoot: '/nonexistent',
  });
  fake.sockets.push(
    sock({
      cookie: 1,
      localPort: 22,
      remotePort: 0,
      remoteAddress: '0.0.0.0',
      state: TcpState.LISTEN,
      localAddress: '0.0.0.0',
    }),
  );
  fake.sockets.push(sock({ cookie: 2, remoteAddress: '198.51.100.1' }));
  await source.start(() => undefined);
  assert.deepEqual(source.pollOnce(), [], 'what existed at start is the baseline');
  // a connection seen first in SYN_SENT, then ESTABLISHED, then TIME_WAIT: one event
  const conn = sock({ cookie: 3, state: TcpState.SYN_SENT });
  fake.sockets.push(conn);
  const first = source.pollOnce();
  assert.equal(first.length, 1);
  assert.equal(
    first[0]?.process,
    undefined,
    'no /proc here: the inode 0 SYN_SENT socket has no owner to find',
  );
  fake.sockets[2] = { ...conn, state: TcpState.ESTABLISHED };
  assert.deepEqual(source.pollOnce(), []);
  fake.sockets[2] = { ...conn, state: TcpState.TIME_WAIT };
  assert.deepEqual(source.pollOnce(), []);
  // a short connection seen only as TIME_WAIT: reported, without a process
  fake.sockets.push(sock({ cookie: 4, state: TcpState.TIME_WAIT, remotePort: 8443 }));
  const tw = source.pollOnce();
  assert.equal(tw.length, 1);
  assert.equal(tw[0]?.destination.port, 8443);
  assert.equal(tw[0]?.process, undefined);
  // an accepted socket still in the accept queue (inode 0) waits for its owner, then goes out without
  fake.sockets.push(sock({ cookie: 5, localPort: 22, remotePort: 51000, remoteAddress: '203.0.113.9' }));
  assert.deepEqual(source.pollOnce(), [], 'waiting for accept()');
  assert.deepEqual(source.pollOnce(), []);
  assert.deepEqual(source.pollOnce(), []);
  const late = source.pollOnce();
  assert.equal(late.length, 1);
  assert.equal(late[0]?.network.direction, 'ingress');
  assert.deepEqual(late[0]?.source, { ip: '203.0.113.9', port: 51000 });
  assert.deepEqual(late[0]?.destination, { ip: '10.0.0.1', port: 22 });
  for (const e of [...first, ...tw, ...late]) parseWith(AnyEvent, e);
  assert.equal(source.stats().reported, 3);
  assert.equal(source.stats().withoutProcess, 3);
  await source.stop();
});

void it('health: a failing UDP dump degrades, a failing TCP dump fails the start', async () => {
  const fake = createFakeSensors();
  const udpFails = {
    dumpSockets: (q: { protocol: 'tcp' | 'udp'; family: 4 | 6 }) => {
      if (q.protocol === 'udp') throw new Error('sock_diag dump: No such file or directory');
      return fake.dumpSockets(q);
    },
  };
  const a = createNetEventSource({ sensors: udpFails });
  assert.equal(a.state().state, 'off');
  await a.start(() => undefined);
  assert.equal(a.state().state, 'degraded');
  assert.match(a.state().reason ?? '', /udp4 not dumped: sock_diag dump: No such file/);
  await a.stop();
  const b = createNetEventSource({
    sensors: {
      dumpSockets: () => {
        throw new Error('sock_diag dump: Operation not permitted');
      },
    },
  });
  await assert.rejects(
    b.start(() => undefined),
    /not permitted/,
  );
  assert.match(b.state().reason ?? '', /failed to start: .*not permitted/);
});

void it('inode → pid: a cached inode reads nothing under /proc', { skip: realSkip }, () => {
  const owners = createSocketOwners();
  const self = process.pid;
  const probe = createSocket('udp4');
  return new Promise<void>((resolve, reject) => {
    probe.bind(0, '127.0.0.1', () => {
      try {
        const links = readdirSync('/proc/self/fd').map((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`);
          } catch {
            return '';
          }
        });
        const before = owners.resolve(new Map([[1, 0]]));
        assert.equal(before.size, 0, 'inode 1 is no socket');
        const inode = Number(
          /socket:\[(\d+)\]/.exec(links.filter((l) => l.startsWith('socket:')).join(' '))?.[1],
        );
        const first = owners.resolve(new Map([[inode, process.getuid?.() ?? 0]]));
        assert.equal(first.get(inode), self);
        const scans = owners.stats().pidScans;
        owners.resolve(new Map([[inode, 0]]));
        assert.equal(owners.stats().pidScans, scans, 'a cached inode reads nothing under /proc');
        resolve();
      } catch (err) {
        reject(err as Error);
      } finally {
        probe.close();
      }
    });
  });
});

void it(
  'an accepted socket waiting in the accept queue gets its process once accept() gave it an inode',
  { skip: realSkip },
  async () => {
    const fake = createFakeSensors();
    const held = createSocket('udp4');
    await new Promise<void>((r) => held.bind(0, '127.0.0.1', () => r()));
    try {
      const inode = Number(
        readdirSync('/proc/self/fd')
          .map((fd) => {
            try {
              return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
            } catch {
              return undefined;
            }
          })
          .filter((x) => x !== undefined)
          .at(-1),
      );
      const source = createNetEventSource({ sensors: fake });
      fake.sockets.push(
        sock({
          cookie: 900,
          localPort: 2222,
          remotePort: 0,
          remoteAddress: '0.0.0.0',
          localAddress: '0.0.0.0',
          state: TcpState.LISTEN,
        }),
      );
      await source.start(() => undefined);
      const queued = sock({ cookie: 901, localPort: 2222, remotePort: 50000 });
      fake.sockets.push(queued);
      assert.deepEqual(source.pollOnce(), [], 'inode 0: not accepted yet');
      fake.sockets[1] = { ...queued, inode, uid: process.getuid?.() ?? 0 };
      const events = source.pollOnce();
      assert.equal(events.length, 1);
      assert.equal(events[0]?.network.direction, 'ingress');
      assert.equal(events[0]?.process?.pid, process.pid);
      await source.stop();
    } finally {
      held.close();
    }
  },
);
