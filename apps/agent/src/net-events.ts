import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { NetworkEvent, ProcessRef, SensorState } from '@yamori/protocol';
import { stateMask, TcpState, type SocketEntry, type SocketQuery } from '@yamori/sensor-linux';
import type { Log } from './agent.ts';
import { entityId } from './process-tree.ts';
import { createProcReader, parseStat, type ProcReader } from './proc-reader.ts';
import type { EventSource } from './sensors.ts';

/**
 * Network connections mapped to processes, as ECS NetworkEvents: new TCP connections (outbound
 * connects from SYN_SENT on, inbound accepts on a listening port) and connected UDP sockets,
 * IPv4 and IPv6, each reported once.
 *
 * How: a NETLINK_SOCK_DIAG dump of tcp4/tcp6/udp4/udp6 every `intervalMs` (default 500 ms), diffed
 * by the kernel's socket cookie (unique per socket for the whole boot, kept by its TIME_WAIT), so a
 * connection is reported once whatever states it goes through. The socket inode is mapped to its
 * process by an incremental inode → pid cache over /proc/PID/fd (see createSocketOwners): once warm,
 * a poll with no new connection reads nothing under /proc, and a new connection costs a scan of the
 * new pids, then of the pids whose fd count changed, never a walk of every fd of every process.
 *
 * Why 500 ms: a dump costs about 1 ms per 1,000 sockets on the target machine, so two polls a
 * second stay well under 1% of a core on a busy host, while most real connections (TLS handshakes,
 * HTTP requests, C2 beacons that wait for an answer) live longer than that. Halving the interval
 * doubles the cost and only narrows the blind spot below.
 *
 * What a poller misses, honestly:
 * - a connection that opens and closes between two polls is not seen with its process. If the
 *   closing side was this host, its TIME_WAIT entry (same cookie, no inode) still shows up on the
 *   next poll and is reported without a process; if the peer closed first, or the socket was
 *   reset, nothing is left and nothing is reported;
 * - a process that exits before its new socket is attributed: the event has no process;
 * - unconnected UDP (sendto without connect) and other network namespaces (containers): sock_diag
 *   dumps only connected sockets of the agent's own namespace here;
 * - an ingress connection still in the accept queue has no inode yet: it waits up to
 *   `pendingPolls` polls for the accept, then is reported without a process.
 * The event-driven alternative is a BPF program on the tracepoint sock:inet_sock_set_state (TCP
 * SYN_SENT runs in the connecting task, so it has the pid; ESTABLISHED after a SYN_RECV marks an
 * accept) plus cgroup connect4/connect6/sendmsg hooks for UDP, pushed through a ring buffer: it
 * sees every connection as it happens and could block one. It is not built here; the research
 * notes (docs: linux-sensors.md §3) show it loads on this kernel.
 */

export interface NetEventsOptions {
  sensors: { dumpSockets(q: SocketQuery): SocketEntry[] };
  intervalMs?: number;
  /** Polls an unattributed socket waits for its process (accept queue, exiting pid) before it is reported without (default 3). */
  pendingPolls?: number;
  /** Report the connections that already exist when the source starts (default false: only new ones). */
  reportExisting?: boolean;
  /** pid → ECS process; default: read /proc/PID (stat, exe) with the process tree's entity id. */
  describeProcess?: (pid: number) => ProcessRef | undefined;
  procRoot?: string;
  /** Most fd directories rescanned per poll when a socket's owner is not found among new pids (default 256). */
  scanBudget?: number;
  now?: () => number;
  newId?: () => string;
  log?: Log;
}

export interface NetEventsStats {
  polls: number;
  pollErrors: number;
  /** Mean and last CPU-wall time of one poll (dumps + diff + attribution), µs. */
  meanPollUs: number;
  lastPollUs: number;
  sockets: number;
  reported: number;
  withoutProcess: number;
  truncatedDumps: number;
  owners: SocketOwnerStats;
}

const TCP_STATES = stateMask(
  TcpState.ESTABLISHED,
  TcpState.SYN_SENT,
  TcpState.FIN_WAIT1,
  TcpState.FIN_WAIT2,
  TcpState.TIME_WAIT,
  TcpState.CLOSE_WAIT,
  TcpState.LAST_ACK,
  TcpState.CLOSING,
  TcpState.LISTEN,
);
const UDP_STATES = stateMask(TcpState.ESTABLISHED);
const MAX_DUMP = 65_536; // records per dump the addon returns at most

const basename = (p: string) => p.slice(p.lastIndexOf('/') + 1);

/** '::ffff:7f00:1' (an IPv4 peer of a dual-stack socket) → '127.0.0.1'; other addresses unchanged. */
export function unmapIpv4(ip: string): string {
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(ip);
  if (!m) return ip;
  const hi = parseInt(m[1] as string, 16);
  const lo = parseInt(m[2] as string, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

const isAny = (ip: string) => ip === '0.0.0.0' || ip === '::';

/** Listening TCP sockets by port: an established socket on such a port (same or wildcard address) was accepted. */
export type Listeners = Map<number, string[]>;

export function direction(
  s: Pick<SocketEntry, 'protocol' | 'state' | 'localAddress' | 'localPort'>,
  listeners: Listeners,
): 'egress' | 'ingress' {
  if (s.protocol !== 'tcp' || s.state === TcpState.SYN_SENT) return 'egress';
  const addrs = listeners.get(s.localPort);
  if (!addrs) return 'egress';
  const local = unmapIpv4(s.localAddress);
  return addrs.some((a) => isAny(a) || a === local) ? 'ingress' : 'egress';
}

/** One ECS NetworkEvent; `source` is the side that initiated the connection (ECS, Sysmon). */
export function toNetworkEvent(
  s: SocketEntry,
  dir: 'egress' | 'ingress',
  meta: { id: string; now: number; process?: ProcessRef | undefined },
): NetworkEvent {
  const local = { ip: unmapIpv4(s.localAddress), port: s.localPort };
  const remote = { ip: unmapIpv4(s.remoteAddress), port: s.remotePort };
  const v4 = s.family === 4 || (!local.ip.includes(':') && !remote.ip.includes(':'));
  return {
    '@timestamp': new Date(meta.now).toISOString(),
    event: {
      id: meta.id,
      dataset: 'yamori.network',
      kind: 'event',
      category: ['network'],
      type: ['start', 'connection'],
      action: dir === 'egress' ? 'connection_attempted' : 'connection_accepted',
    },
    source: dir === 'egress' ? local : remote,
    destination: dir === 'egress' ? remote : local,
    network: { transport: s.protocol, type: v4 ? 'ipv4' : 'ipv6', direction: dir },
    ...(meta.process ? { process: meta.process } : {}),
  };
}

// ---------- inode → pid ----------

export interface SocketOwnerStats {
  /** fd directories read (a full scan at warm-up, then only new or changed pids). */
  pidScans: number;
  fdReads: number;
  /** fd directories the agent may not read (EACCES/EPERM: not root, or a restricted /proc). */
  unreadable: number;
  /** Processes that exited between the /proc listing and the scan (normal). */
  vanished: number;
  resolved: number;
  unresolved: number;
  cachedInodes: number;
}

export interface SocketOwners {
  /** Owners of these socket inodes (inode → the uid that owns the socket, to pick candidates first). */
  resolve(wanted: ReadonlyMap<number, number>): Map<number, number>;
  stats(): SocketOwnerStats;
}

interface PidEntry {
  fdCount: number;
  uid: number;
  /** fd number → socket inode (0: not a socket), as of the last scan. */
  fds: Map<string, number>;
  /** Poll number when this pid last turned out to own a new socket: likely to own the next one. */
  lastOwned: number;
}

/**
 * Incremental inode → pid map: a wanted inode is looked up in the cache; misses scan, in order,
 * (1) pids that appeared since the last look, every fd (2) known pids whose fd count (st_size of
 * /proc/PID/fd) changed, only the fd numbers that are new since their last scan (a new socket
 * usually takes a new number: one readdir and a few readlinks even for a process holding
 * thousands of fds) (3) if still missing, every fd of the pids of the socket's uid, changed ones
 * and most recent owners first (a reused fd number), at most `budget` directories per call.
 * Pids that disappear from /proc are forgotten. /proc is listed only when a wanted inode is
 * missing from the cache.
 */
export function createSocketOwners(opts: { procRoot?: string; budget?: number } = {}): SocketOwners {
  const root = opts.procRoot ?? '/proc';
  const budget = opts.budget ?? 256;
  const pids = new Map<number, PidEntry>();
  const owner = new Map<number, number>();
  const st = { pidScans: 0, fdReads: 0, unreadable: 0, vanished: 0, resolved: 0, unresolved: 0 };
  let round = 0;

  const fdStat = (pid: number): { size: number; uid: number } | undefined => {
    try {
      const s = statSync(`${root}/${pid}/fd`);
      return { size: s.size, uid: s.uid };
    } catch {
      return undefined;
    }
  };

  const drop = (pid: number, ino: number) => {
    if (ino !== 0 && owner.get(ino) === pid) owner.delete(ino);
  };

  const forget = (pid: number) => {
    const e = pids.get(pid);
    if (!e) return;
    for (const ino of e.fds.values()) drop(pid, ino);
    pids.delete(pid);
  };

  /** Reads /proc/PID/fd (with `onlyNew`, readlinks only fd numbers not seen last time); false when unreadable. */
  const scan = (pid: number, onlyNew: boolean, fdInfo?: { size: number; uid: number }): boolean => {
    const info = fdInfo ?? fdStat(pid);
    let names: string[];
    try {
      names = readdirSync(`${root}/${pid}/fd`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      forget(pid);
      if (code === 'EACCES' || code === 'EPERM') {
        st.unreadable++;
        // remembered (with no sockets) so it is not retried as a new pid on every poll
        pids.set(pid, { fdCount: info?.size ?? -1, uid: info?.uid ?? -1, fds: new Map(), lastOwned: 0 });
      } else st.vanished++;
      return false;
    }
    st.pidScans++;
    const prev = pids.get(pid);
    const old = prev?.fds ?? new Map<string, number>();
    const fds = new Map<string, number>();
    for (const fd of names) {
      const known = onlyNew ? old.get(fd) : undefined;
      if (known !== undefined) {
        fds.set(fd, known);
        continue;
      }
      let link: string;
      try {
        link = readlinkSync(`${root}/${pid}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      st.fdReads++;
      const ino = link.startsWith('socket:[') ? Number(link.slice(8, -1)) : 0;
      fds.set(fd, ino);
      if (ino === 0) continue;
      // the first holder stays the owner (an inherited socket is shared by parent and child)
      const cur = owner.get(ino);
      if (cur === undefined || cur === pid || !pids.has(cur)) owner.set(ino, pid);
    }
    for (const [fd, ino] of old) if (fds.get(fd) !== ino) drop(pid, ino);
    pids.set(pid, {
      fdCount: info?.size ?? names.length,
      uid: info?.uid ?? prev?.uid ?? -1,
      fds,
      lastOwned: prev?.lastOwned ?? 0,
    });
    return true;
  };

  const listPids = (): number[] => {
    try {
      return readdirSync(root)
        .filter((n) => n.charCodeAt(0) >= 48 && n.charCodeAt(0) <= 57)
        .map(Number);
    } catch {
      st.unreadable++;
      return [];
    }
  };

  return {
    resolve(wanted) {
      round++;
      const found = new Map<number, number>();
      const missing = new Map<number, number>();
      for (const [ino, uid] of wanted) {
        const pid = owner.get(ino);
        if (pid !== undefined) found.set(ino, pid);
        else missing.set(ino, uid);
      }
      const settle = () => {
        for (const ino of [...missing.keys()]) {
          const pid = owner.get(ino);
          if (pid === undefined) continue;
          found.set(ino, pid);
          missing.delete(ino);
          const e = pids.get(pid);
          if (e) e.lastOwned = round;
        }
        return missing.size === 0;
      };
      if (missing.size > 0) {
        const live = listPids();
        const alive = new Set(live);
        for (const pid of [...pids.keys()]) if (!alive.has(pid)) forget(pid);
        // (1) new pids, every fd
        for (const pid of live) if (!pids.has(pid)) scan(pid, false);
        if (!settle()) {
          // (2) known pids whose number of open fds changed: their new fd numbers
          const changed: number[] = [];
          const rest: number[] = [];
          for (const [pid, e] of pids) {
            const info = fdStat(pid);
            if (info && info.size !== e.fdCount) {
              scan(pid, true, info);
              changed.push(pid);
            } else rest.push(pid);
          }
          if (!settle()) {
            // (3) every fd of the socket's uid's pids, changed and recent owners first, bounded
            const uids = new Set(missing.values());
            const recency = (pid: number) => pids.get(pid)?.lastOwned ?? 0;
            rest.sort((a, b) => recency(b) - recency(a));
            let n = 0;
            for (const pid of [...changed, ...rest]) {
              if (n >= budget) break;
              const e = pids.get(pid);
              if (!e || !uids.has(e.uid)) continue;
              scan(pid, false);
              n++;
              if (settle()) break;
            }
          }
        }
      }
      st.resolved += found.size;
      st.unresolved += missing.size;
      return found;
    },
    stats: () => ({ ...st, cachedInodes: owner.size }),
  };
}

// ---------- process description ----------

export function createProcessDescriber(
  reader: ProcReader = createProcReader(),
  root = '/proc',
): (pid: number) => ProcessRef | undefined {
  return (pid) => {
    let statText: string;
    try {
      statText = readFileSync(`${root}/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
    const stat = parseStat(statText);
    if (!stat) return undefined;
    let exe: string | undefined;
    try {
      exe = readlinkSync(`${root}/${pid}/exe`).replace(/ \(deleted\)$/, '');
    } catch {
      exe = undefined; // kernel thread, zombie, or gone
    }
    return {
      pid,
      entity_id: entityId(reader.bootId(), pid, stat.startTicks),
      name: (exe ? basename(exe) : stat.name).slice(0, 256),
      ...(exe ? { executable: exe } : {}),
    };
  };
}

// ---------- the source ----------

export interface NetEventSource extends EventSource<NetworkEvent> {
  /** One poll now (tests, and the timer). Returns the events it produced. */
  pollOnce(): NetworkEvent[];
  stats(): NetEventsStats;
}

interface Pending {
  s: SocketEntry;
  dir: 'egress' | 'ingress';
  polls: number;
}

export function createNetEventSource(options: NetEventsOptions): NetEventSource {
  const intervalMs = options.intervalMs ?? 500;
  const pendingPolls = options.pendingPolls ?? 3;
  const now = options.now ?? Date.now;
  const newId = options.newId ?? randomUUID;
  const log: Log = options.log ?? (() => undefined);
  const owners = createSocketOwners({
    ...(options.procRoot ? { procRoot: options.procRoot } : {}),
    ...(options.scanBudget ? { budget: options.scanBudget } : {}),
  });
  const describe =
    options.describeProcess ??
    createProcessDescriber(
      createProcReader(options.procRoot ? { root: options.procRoot } : {}),
      options.procRoot,
    );
  let reported = new Set<number>();
  let pending = new Map<number, Pending>();
  let timer: NodeJS.Timeout | undefined;
  let listener: ((e: NetworkEvent) => void) | undefined;
  let started = false;
  let startError: string | undefined;
  let lastError: string | undefined;
  let consecutiveErrors = 0;
  const failedQueries = new Map<string, string>();
  const st = {
    polls: 0,
    pollErrors: 0,
    totalUs: 0,
    lastPollUs: 0,
    sockets: 0,
    reported: 0,
    withoutProcess: 0,
    truncatedDumps: 0,
  };
  const queries: SocketQuery[] = [
    { family: 4, protocol: 'tcp', states: TCP_STATES },
    { family: 6, protocol: 'tcp', states: TCP_STATES },
    { family: 4, protocol: 'udp', states: UDP_STATES },
    { family: 6, protocol: 'udp', states: UDP_STATES },
  ];

  const dump = (): SocketEntry[] => {
    const all: SocketEntry[] = [];
    let tcpOk = false;
    for (const q of queries) {
      const key = `${q.protocol}${q.family}`;
      try {
        const part = options.sensors.dumpSockets(q);
        if (part.length >= MAX_DUMP) st.truncatedDumps++;
        for (const s of part) all.push(s);
        failedQueries.delete(key);
        if (q.protocol === 'tcp') tcpOk = true;
      } catch (err) {
        failedQueries.set(key, (err as Error).message);
      }
    }
    if (!tcpOk) throw new Error(`sock_diag dump failed: ${[...failedQueries.values()].join('; ')}`);
    return all;
  };

  const poll = (emit: boolean): NetworkEvent[] => {
    const t0 = process.hrtime.bigint();
    const sockets = dump();
    const listeners: Listeners = new Map();
    const current = new Set<number>();
    const fresh: Pending[] = [];
    for (const s of sockets) {
      if (s.state === TcpState.LISTEN) {
        const l = listeners.get(s.localPort);
        const a = unmapIpv4(s.localAddress);
        if (l) l.push(a);
        else listeners.set(s.localPort, [a]);
        continue;
      }
      if (s.remotePort === 0) continue;
      current.add(s.cookie);
      if (reported.has(s.cookie)) continue;
      const waiting = pending.get(s.cookie);
      if (waiting) {
        waiting.s = s; // the fresh entry: an accepted socket has its inode now
        continue;
      }
      fresh.push({ s, dir: 'egress', polls: 0 });
    }
    for (const f of fresh) f.dir = direction(f.s, listeners);
    const out: NetworkEvent[] = [];
    const nextReported = new Set<number>();
    for (const c of reported) if (current.has(c)) nextReported.add(c);
    if (!emit) {
      for (const f of fresh) nextReported.add(f.s.cookie);
      reported = nextReported;
      pending = new Map();
    } else {
      const describeCache = new Map<number, ProcessRef | undefined>();
      const ref = (pid: number) => {
        if (!describeCache.has(pid)) describeCache.set(pid, describe(pid));
        return describeCache.get(pid) ?? { pid };
      };
      const report = (p: Pending, pid: number | undefined) => {
        const process = pid === undefined ? undefined : ref(pid);
        if (!process) st.withoutProcess++;
        st.reported++;
        nextReported.add(p.s.cookie);
        out.push(toNetworkEvent(p.s, p.dir, { id: newId(), now: now(), process }));
      };
      // sockets waiting for an owner: gone ones are reported now, without a process
      const waiting: Pending[] = [];
      for (const [cookie, p] of pending) {
        if (current.has(cookie)) waiting.push(p);
        else report(p, undefined);
      }
      const candidates = [...waiting, ...fresh];
      const wanted = new Map<number, number>();
      for (const p of candidates) if (p.s.inode !== 0) wanted.set(p.s.inode, p.s.uid);
      const found = wanted.size > 0 ? owners.resolve(wanted) : new Map<number, number>();
      const nextPending = new Map<number, Pending>();
      for (const p of candidates) {
        const pid = p.s.inode !== 0 ? found.get(p.s.inode) : undefined;
        // inode 0: TIME_WAIT / orphaned (no process will ever hold it) or not yet accepted
        const mayResolve = p.s.inode !== 0 || (p.dir === 'ingress' && p.s.state === TcpState.ESTABLISHED);
        if (pid === undefined && mayResolve && p.polls < pendingPolls) {
          nextPending.set(p.s.cookie, { ...p, polls: p.polls + 1 });
          continue;
        }
        report(p, pid);
      }
      pending = nextPending;
      reported = nextReported;
    }
    st.polls++;
    st.sockets = current.size;
    const us = Number(process.hrtime.bigint() - t0) / 1000;
    st.lastPollUs = us;
    st.totalUs += us;
    return out;
  };

  const tick = () => {
    let events: NetworkEvent[];
    try {
      events = poll(true);
      consecutiveErrors = 0;
    } catch (err) {
      st.pollErrors++;
      consecutiveErrors++;
      lastError = (err as Error).message;
      if (consecutiveErrors === 1 || consecutiveErrors % 100 === 0)
        log('warn', 'network connection poll failed', { error: lastError, consecutive: consecutiveErrors });
      return;
    }
    for (const e of events) {
      try {
        listener?.(e);
      } catch (err) {
        log('warn', 'network event handler failed', { error: (err as Error).message });
      }
    }
  };

  return {
    name: 'network-connections',
    async start(l) {
      if (started) return;
      startError = undefined;
      try {
        poll(options.reportExisting ?? false); // baseline: what exists now is not new
      } catch (err) {
        startError = (err as Error).message;
        throw err;
      }
      listener = l;
      started = true;
      timer = setInterval(tick, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      started = false;
      listener = undefined;
    },
    pollOnce() {
      const events = poll(true);
      for (const e of events) listener?.(e);
      return events;
    },
    stats: () => ({
      polls: st.polls,
      pollErrors: st.pollErrors,
      meanPollUs: st.polls > 0 ? Math.round(st.totalUs / st.polls) : 0,
      lastPollUs: Math.round(st.lastPollUs),
      sockets: st.sockets,
      reported: st.reported,
      withoutProcess: st.withoutProcess,
      truncatedDumps: st.truncatedDumps,
      owners: owners.stats(),
    }),
    state(): SensorState {
      const name = 'network-connections';
      if (!started)
        return { name, state: 'off', reason: startError ? `failed to start: ${startError}` : 'not started' };
      const o = owners.stats();
      const problems: string[] = [];
      if (consecutiveErrors > 0) problems.push(`last ${consecutiveErrors} polls failed: ${lastError ?? ''}`);
      else if (st.pollErrors > 0) problems.push(`${st.pollErrors} polls failed`);
      for (const [q, e] of failedQueries) problems.push(`${q} not dumped: ${e}`);
      if (st.truncatedDumps > 0) problems.push(`${st.truncatedDumps} dumps truncated at ${MAX_DUMP} sockets`);
      if (o.unreadable > 0)
        problems.push(`${o.unreadable} /proc reads refused or vanished (connections without a process)`);
      const detail = `${st.reported} connections reported (${st.withoutProcess} without a process), ${st.sockets} sockets, poll every ${intervalMs} ms, ${Math.round(st.totalUs / Math.max(1, st.polls))} µs per poll`;
      return problems.length > 0 || consecutiveErrors > 0
        ? { name, state: 'degraded', reason: `${problems.join('; ')}; ${detail}`.slice(0, 1024) }
        : { name, state: 'active', reason: detail.slice(0, 1024) };
    },
  };
}
