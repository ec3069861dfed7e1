// `npm run bench -- net-connections [--sockets 4000] [--polls 100]` (or `node bench/net-connections.ts`)
//
// CPU cost of one poll of the agent's network-connection source (apps/agent/src/net-events.ts:
// NETLINK_SOCK_DIAG dumps diffed by socket cookie + the incremental inode → pid cache) with N
// loopback TCP sockets held by 4 child processes, measured in the same run against the naive
// poller it replaces: parse /proc/net/tcp and /proc/net/tcp6 and walk every /proc/PID/fd on
// every poll (what `netstat -p` does).
//   - idle: no new connection between polls (the common case);
//   - busy: one new connection per poll, made by an existing child (its owner must be found);
//   - naive: /proc/net/tcp{,6} + full fd walk, per poll.
// CPU = process.cpuUsage() of this process (user + system) over the polls, divided by polls.
// Last line: one JSON object.
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadLinuxSensors } from '@yamori/sensor-linux';
import { createNetEventSource } from '../apps/agent/src/net-events.ts';

const { values: opt } = parseArgs({
  options: {
    sockets: { type: 'string', default: '4000' },
    polls: { type: 'string', default: '100' },
    child: { type: 'boolean', default: false },
  },
});

if (opt.child) {
  // a holder: listens, opens `count` connections to itself, opens one more on each 'more' message
  const { createServer, connect } = await import('node:net');
  const held: unknown[] = [];
  const server = createServer((s) => held.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const open = () =>
    new Promise<void>((r) => {
      const c = connect(port, '127.0.0.1', () => r());
      held.push(c);
    });
  process.on('message', (m: { count?: number; more?: boolean }) => {
    void (async () => {
      for (let i = 0; i < (m.count ?? 0); i++) await open();
      if (m.more) await open();
      process.send?.('ok');
    })();
  });
  process.send?.('ready');
} else {
  await main();
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench net-connections needs root (reads every /proc/PID/fd)');
    process.exit(2);
  }
  const loaded = loadLinuxSensors();
  if (!loaded.available) {
    console.error(`the sensor addon is unavailable: ${loaded.reason}`);
    process.exit(2);
  }
  const SOCKETS = Number(opt.sockets);
  const POLLS = Number(opt.polls);
  const HOLDERS = 4;
  const children: ChildProcess[] = [];
  const ask = (c: ChildProcess, m: object) =>
    new Promise<void>((r) => {
      c.once('message', () => r());
      c.send(m);
    });
  try {
    for (let i = 0; i < HOLDERS; i++) {
      const c = fork(import.meta.filename, ['--child'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      await new Promise<void>((r) => c.once('message', () => r()));
      children.push(c);
    }
    // each connection is two sockets (both ends held by the same child)
    await Promise.all(children.map((c) => ask(c, { count: Math.ceil(SOCKETS / 2 / HOLDERS) })));

    const source = createNetEventSource({ sensors: loaded.sensors });
    await source.start(() => undefined);
    const cpu = (fn: () => void, n: number) => {
      const t = process.cpuUsage();
      const w = process.hrtime.bigint();
      for (let i = 0; i < n; i++) fn();
      const d = process.cpuUsage(t);
      return { cpuUs: (d.user + d.system) / n, wallUs: Number(process.hrtime.bigint() - w) / 1000 / n };
    };
    // warm the owner cache once (one new connection: full scan of the new pids)
    await ask(children[0] as ChildProcess, { more: true });
    source.pollOnce();
    const sockets = source.stats().sockets;

    const idle = cpu(() => source.pollOnce(), POLLS);

    let busyCpu = 0;
    let busyWall = 0;
    let found = 0;
    for (let i = 0; i < POLLS; i++) {
      await ask(children[i % HOLDERS] as ChildProcess, { more: true });
      const r = cpu(() => {
        for (const e of source.pollOnce()) if (e.process && e.network.direction === 'egress') found++;
      }, 1);
      busyCpu += r.cpuUs;
      busyWall += r.wallUs;
    }
    const busy = { cpuUs: busyCpu / POLLS, wallUs: busyWall / POLLS };
    const owners = source.stats().owners;

    const naivePoll = () => {
      const inodes = new Set<number>();
      for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
        const lines = readFileSync(f, 'utf8').split('\n');
        for (let i = 1; i < lines.length; i++) {
          const cols = (lines[i] as string).trim().split(/\s+/);
          if (cols.length > 9) inodes.add(Number(cols[9]));
        }
      }
      const owner = new Map<number, number>();
      for (const p of readdirSync('/proc')) {
        if (p.charCodeAt(0) < 48 || p.charCodeAt(0) > 57) continue;
        let fds: string[];
        try {
          fds = readdirSync(`/proc/${p}/fd`);
        } catch {
          continue;
        }
        for (const fd of fds) {
          try {
            const l = readlinkSync(`/proc/${p}/fd/${fd}`);
            if (l.startsWith('socket:[')) {
              const ino = Number(l.slice(8, -1));
              if (inodes.has(ino)) owner.set(ino, Number(p));
            }
          } catch {
            // closed meanwhile
          }
        }
      }
      return owner.size;
    };
    const naivePolls = Math.max(5, Math.round(POLLS / 5));
    const naive = cpu(naivePoll, naivePolls);

    const dumpOnly = cpu(() => {
      for (const q of [
        { family: 4, protocol: 'tcp' },
        { family: 6, protocol: 'tcp' },
      ] as const)
        loaded.sensors.dumpSockets(q);
    }, POLLS);
    const procNetOnly = cpu(() => {
      readFileSync('/proc/net/tcp', 'utf8');
      readFileSync('/proc/net/tcp6', 'utf8');
    }, POLLS);
    await source.stop();

    const f = (x: number) => x.toFixed(0).padStart(8);
    console.log(`sockets in the dump: ${sockets}; polls: ${POLLS} (naive: ${naivePolls})`);
    console.log(`                                   cpu µs/poll  wall µs/poll`);
    console.log(`yamori idle (no new connection)    ${f(idle.cpuUs)}      ${f(idle.wallUs)}`);
    console.log(
      `yamori busy (1 new connection)     ${f(busy.cpuUs)}      ${f(busy.wallUs)}   attributed ${found}/${POLLS}`,
    );
    console.log(`naive (/proc/net/tcp + fd walk)    ${f(naive.cpuUs)}      ${f(naive.wallUs)}`);
    console.log(`  sock_diag tcp4+tcp6 dump only    ${f(dumpOnly.cpuUs)}      ${f(dumpOnly.wallUs)}`);
    console.log(`  /proc/net/tcp{,6} read only      ${f(procNetOnly.cpuUs)}      ${f(procNetOnly.wallUs)}`);
    console.log(
      `ratio vs naive: idle ${(idle.cpuUs / naive.cpuUs).toFixed(3)}, busy ${(busy.cpuUs / naive.cpuUs).toFixed(3)}; at 2 polls/s idle costs ${((idle.cpuUs * 2) / 1e4).toFixed(2)}% of one core`,
    );
    console.log(
      `owner cache: ${owners.pidScans} fd-directory scans, ${owners.fdReads} fd links read over ${POLLS + 1} polls with a new connection`,
    );
    console.log(
      JSON.stringify({
        sockets,
        idle_poll_cpu_us: Math.round(idle.cpuUs),
        busy_poll_cpu_us: Math.round(busy.cpuUs),
        naive_poll_cpu_us: Math.round(naive.cpuUs),
        idle_ratio: Number((idle.cpuUs / naive.cpuUs).toFixed(4)),
        busy_ratio: Number((busy.cpuUs / naive.cpuUs).toFixed(4)),
        sockdiag_dump_cpu_us: Math.round(dumpOnly.cpuUs),
        proc_net_tcp_cpu_us: Math.round(procNetOnly.cpuUs),
        attributed: found,
        polls: POLLS,
      }),
    );
  } finally {
    for (const c of children) c.kill();
  }
}
