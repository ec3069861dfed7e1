import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { Type } from 'typebox';
import { parseWith, type Command, type CommandResult, type CommandType } from '@yamori/protocol';
import { readJsonIfExists, writeFileAtomic } from './atomic-file.ts';
import type { ProcReader } from './proc-reader.ts';
import { entityId } from './process-tree.ts';

/**
 * Handlers for commands from the server: kill (process or tree), isolate, release. Scan and
 * quarantine handlers come from their own modules through `extra`. Every handler returns a
 * CommandResult; nothing throws out of `run`.
 */

// ---------- kill ----------

export interface KillOptions {
  tree: boolean;
  /** Start time (ticks) the server saw: refuse if the pid now belongs to another process. */
  expectStartTicks?: number | undefined;
  /** The ECS process.entity_id from an alert: the same check, in the form the console holds. */
  expectEntityId?: string | undefined;
  /** A pidfd of the root from the sensor (FAN_REPORT_PIDFD): it names the process itself, so no check is needed. */
  rootPidfd?: number | undefined;
}
export type KillFn = (pid: number, opts: KillOptions) => Promise<{ killed: number[]; detail: string }>;

/** pidfd_open(2) and pidfd_send_signal(2), from the sensor addon. */
export interface Pidfds {
  open(pid: number): number;
  send(pidfd: number, signal: NodeJS.Signals): void;
}

export interface ProcessKillerDeps {
  reader: ProcReader;
  signal?: (pid: number, sig: NodeJS.Signals) => void;
  /** With pidfds, a process checked once (start time) stays the one signalled: no pid-reuse race. */
  pidfds?: Pidfds | undefined;
  selfPid?: number;
}

interface Target {
  pid: number;
  ticks: number;
  fd?: number;
  ownFd?: boolean;
}

/**
 * Kill a process (tree): SIGSTOP the whole tree first so it cannot fork away, then SIGKILL each
 * process. With pidfds each target is opened and its start time checked once, after which the
 * descriptor names that process whatever happens to the pid; without, the start time is re-checked
 * before each signal.
 */
export function createProcessKiller(deps: ProcessKillerDeps): KillFn {
  const signal = deps.signal ?? ((pid, sig) => process.kill(pid, sig));
  const self = deps.selfPid ?? process.pid;
  const pidfds = deps.pidfds;
  return async (pid, opts) => {
    if (!Number.isInteger(pid) || pid <= 1 || pid === self) throw new Error(`refusing to kill pid ${pid}`);
    const ticks = deps.reader.startTicks(pid);
    if (ticks === undefined) return { killed: [], detail: `pid ${pid} is not running` };
    if (opts.rootPidfd === undefined && opts.expectStartTicks !== undefined && ticks !== opts.expectStartTicks) {
      throw new Error(`pid ${pid} now belongs to another process (start time ${ticks}, expected ${opts.expectStartTicks}); nothing killed`);
    }
    if (opts.rootPidfd === undefined && opts.expectEntityId !== undefined && entityId(deps.reader.bootId(), pid, ticks) !== opts.expectEntityId) {
      throw new Error(`pid ${pid} now belongs to another process (entity id differs); nothing killed`);
    }
    const root: Target = { pid, ticks, ...(opts.rootPidfd !== undefined && opts.rootPidfd >= 0 ? { fd: opts.rootPidfd } : {}) };
    const targets: Target[] = [root];
    if (opts.tree) {
      const children = new Map<number, Target[]>();
      for (const p of deps.reader.listPids()) {
        const s = deps.reader.read(p);
        if (!s || s.pid === self) continue;
        const list = children.get(s.ppid) ?? [];
        list.push({ pid: s.pid, ticks: s.startTicks });
        children.set(s.ppid, list);
      }
      for (let i = 0; i < targets.length; i++) {
        const t = targets[i] as Target;
        // a child cannot have started before its parent: guards against a reused parent pid
        for (const c of children.get(t.pid) ?? []) if (c.ticks >= t.ticks) targets.push(c);
      }
    }
    const alive = (t: Target) => deps.reader.startTicks(t.pid) === t.ticks;
    if (pidfds) {
      for (const t of targets) {
        if (t.fd !== undefined) continue;
        try {
          const fd = pidfds.open(t.pid);
          if (alive(t)) Object.assign(t, { fd, ownFd: true });
          else closeSync(fd);
        } catch {
          /* gone */
        }
      }
    }
    const send = (t: Target, sig: NodeJS.Signals): boolean => {
      try {
        if (t.fd !== undefined && pidfds) pidfds.send(t.fd, sig);
        else if (pidfds || !alive(t)) return false;
        else signal(t.pid, sig);
        return true;
      } catch {
        return false; // gone
      }
    };
    for (const t of targets) send(t, 'SIGSTOP');
    const killed: number[] = [];
    for (const t of targets) if (send(t, 'SIGKILL')) killed.push(t.pid);
    for (const t of targets) if (t.ownFd && t.fd !== undefined) closeSync(t.fd);
    return { killed, detail: `killed ${killed.length} process(es): ${killed.join(', ')}` };
  };
}

// ---------- isolation ----------

export const ISOLATION_TABLE = 'yamori_isolation';

export interface Peer {
  ip: string;
  port: number;
}

export interface IsolationSpec {
  /** The management server's addresses: the only remote peers left reachable. */
  server: Peer[];
  /** Extra peers an admin allowed (e.g. a remote-access jump host). */
  allow: Peer[];
  /** Keep DHCP working so the host does not lose its address while isolated. */
  allowDhcp: boolean;
}

function checkPeer(p: Peer): Peer {
  if (isIP(p.ip) === 0) throw new Error(`not an IP address: ${JSON.stringify(p.ip)}`);
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new Error(`not a port: ${JSON.stringify(p.port)}`);
  return p;
}

/**
 * The nftables ruleset that drops everything but loopback and the listed peers, as a single
 * transaction for `nft -f -` (add+delete first makes it idempotent and atomic). Addresses are
 * validated, never interpolated unchecked.
 */
export function buildIsolationRuleset(spec: IsolationSpec): string {
  const peers = [...spec.server, ...spec.allow].map(checkPeer);
  if (spec.server.length === 0) throw new Error('isolation needs the management server address, or the agent would lose its server');
  const fam = (ip: string) => (isIP(ip) === 6 ? 'ip6' : 'ip');
  const input = peers.map((p) => `    ${fam(p.ip)} saddr ${p.ip} tcp sport ${p.port} ct state established,related accept`);
  const output = peers.map((p) => `    ${fam(p.ip)} daddr ${p.ip} tcp dport ${p.port} accept`);
  const dhcpIn = spec.allowDhcp ? ['    udp sport 67 udp dport 68 accept', '    udp sport 547 udp dport 546 accept'] : [];
  const dhcpOut = spec.allowDhcp ? ['    udp sport 68 udp dport 67 accept', '    udp sport 546 udp dport 547 accept'] : [];
  const nd = '    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, nd-router-solicit } accept';
  return [
    `add table inet ${ISOLATION_TABLE}`,
    `delete table inet ${ISOLATION_TABLE}`,
    `table inet ${ISOLATION_TABLE} {`,
    '  chain input {',
    '    type filter hook input priority filter - 10; policy drop;',
    '    iif "lo" accept',
    nd,
    ...input,
    ...dhcpIn,
    '  }',
    '  chain output {',
    '    type filter hook output priority filter - 10; policy drop;',
    '    oif "lo" accept',
    nd,
    ...output,
    ...dhcpOut,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter - 10; policy drop;',
    '  }',
    '}',
    '',
  ].join('\n');
}

export const RELEASE_RULESET = `add table inet ${ISOLATION_TABLE}\ndelete table inet ${ISOLATION_TABLE}\n`;

export type NftRunner = (ruleset: string) => Promise<void>;

/** Runs `nft -f -` with the ruleset on stdin (no shell). `prefix` e.g. ['ip','netns','exec','ns1'] for tests. */
export function createNftRunner(opts: { prefix?: string[]; nft?: string } = {}): NftRunner {
  const argv = [...(opts.prefix ?? []), opts.nft ?? 'nft', '-f', '-'];
  return (ruleset) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.on('error', (e) => reject(new Error(`cannot run ${argv.join(' ')}: ${e.message} (install nftables)`)));
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`nft failed (exit ${code}): ${err.trim().slice(0, 2000)}`))));
      child.stdin.end(ruleset);
    });
}

/** Addresses of the server URL the agent talks to (the URL's IP literal, or its DNS answers now). */
export async function resolveServerPeers(url: string): Promise<Peer[]> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  if (isIP(host)) return [{ ip: host, port }];
  const addrs = await lookup(host, { all: true });
  return addrs.map((a) => ({ ip: a.address, port }));
}

export interface Isolation {
  isolate(extra: Peer[]): Promise<string>;
  release(): Promise<string>;
  /** After a restart or reboot: put the isolation back if it was on. */
  reapply(): Promise<boolean>;
  isolated(): boolean;
}

export interface IsolationDeps {
  runNft: NftRunner;
  serverPeers: () => Promise<Peer[]>;
  stateDir: string;
  allowDhcp?: boolean;
}

export function createIsolation(deps: IsolationDeps): Isolation {
  const file = join(deps.stateDir, 'isolation.json');
  const saved = readJsonIfExists(file) as { isolated?: boolean; spec?: IsolationSpec } | undefined;
  let state: { isolated: boolean; spec?: IsolationSpec | undefined } = { isolated: saved?.isolated === true, spec: saved?.spec };
  return {
    async isolate(extra) {
      const spec: IsolationSpec = { server: await deps.serverPeers(), allow: extra, allowDhcp: deps.allowDhcp ?? true };
      await deps.runNft(buildIsolationRuleset(spec));
      state = { isolated: true, spec };
      writeFileAtomic(file, JSON.stringify(state));
      const peers = [...spec.server, ...spec.allow].map((p) => `${p.ip}:${p.port}`).join(', ');
      return `host isolated: only loopback and ${peers} reachable (nft table inet ${ISOLATION_TABLE})`;
    },
    async release() {
      await deps.runNft(RELEASE_RULESET);
      state = { isolated: false };
      writeFileAtomic(file, JSON.stringify(state));
      return 'isolation released';
    },
    async reapply() {
      if (!state.isolated || !state.spec) return false;
      await deps.runNft(buildIsolationRuleset(state.spec));
      return true;
    },
    isolated: () => state.isolated,
  };
}

// ---------- dispatch ----------

const KillParams = Type.Object({
  pid: Type.Integer({ minimum: 2 }),
  tree: Type.Optional(Type.Boolean()),
  startTicks: Type.Optional(Type.Integer({ minimum: 0 })),
  entityId: Type.Optional(Type.String({ maxLength: 128 })),
});
const IsolateParams = Type.Object({
  allow: Type.Optional(Type.Array(Type.Object({ ip: Type.String({ maxLength: 45 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }), { maxItems: 16 })),
});

export type CommandHandler = (cmd: Command) => Promise<CommandResult>;

export interface CommandRunnerDeps {
  kill: KillFn;
  isolation: Isolation;
  /** Handlers owned by other modules (scan, quarantine, collect_file, upgrade). */
  extra?: Partial<Record<CommandType, CommandHandler>>;
}

export interface CommandRunner {
  run(cmd: Command): Promise<CommandResult>;
}

const out = (s: string) => s.slice(0, 65536);

export function createCommandRunner(deps: CommandRunnerDeps): CommandRunner {
  const builtIn: Partial<Record<CommandType, CommandHandler>> = {
    kill: async (cmd) => {
      const p = parseWith(KillParams, cmd.params, 'kill parameters');
      const r = await deps.kill(p.pid, { tree: p.tree ?? false, expectStartTicks: p.startTicks, expectEntityId: p.entityId });
      return { status: 'done', output: out(r.detail) };
    },
    isolate: async (cmd) => {
      const p = parseWith(IsolateParams, cmd.params, 'isolate parameters');
      return { status: 'done', output: out(await deps.isolation.isolate(p.allow ?? [])) };
    },
    release: async () => ({ status: 'done', output: out(await deps.isolation.release()) }),
  };
  return {
    async run(cmd) {
      const h = deps.extra?.[cmd.type] ?? builtIn[cmd.type];
      if (!h) return { status: 'failed', output: `command ${cmd.type} is not supported by this agent version` };
      try {
        const r = await h(cmd);
        return r.output !== undefined ? { status: r.status, output: out(r.output) } : { status: r.status };
      } catch (err) {
        return { status: 'failed', output: out(`${cmd.type} failed: ${(err as Error).message}`) };
      }
    },
  };
}
