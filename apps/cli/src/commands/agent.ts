import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildAgentBundle } from '../agent-bundle.ts';
import type { DetectionEvent } from '@yamori/protocol';
import {
  checkUninstall,
  collectHostFacts,
  createAgent,
  createAgentClient,
  createQuarantineCommandHandler,
  openQuarantineStore,
  createDefaultModules,
  createFileEngine,
  createYaraRules,
  createScheduledScanModule,
  createScanCommandHandler,
  createPackageTrust,
  hasDpkg,
  createIsolation,
  createLinuxSensors,
  createNftRunner,
  DEFAULT_STATE_DIR,
  defaultLog,
  enrollAgent,
  loadCaPem,
  loadIdentity,
  loadStatus,
  readJsonIfExists,
  removeAllDecoys,
  resolveServerPeers,
  STATE_FILES,
  writeFileAtomic,
  type ExecEngine,
  type LinuxSensorSet,
  type QuarantineStore,
  type Sensors,
} from '@yamori/agent';

/**
 * `yamori agent …`: enroll, run (foreground), status, install (systemd unit), uninstall.
 * Returns the process exit code; never calls process.exit itself.
 */
export interface AgentCommandDeps {
  env?: NodeJS.ProcessEnv;
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** The sensors to run with; default: the real Linux sensors (createLinuxSensors), none with --no-sensors. */
  sensors?: () => Promise<Sensors> | Sensors;
  /** Local exec engines; default: static file analysis (createFileEngine). */
  engines?: ExecEngine[];
  /** For `install`/`uninstall` (tests pass a fake). */
  systemctl?: (args: string[]) => number;
  /** For `run`: resolves when the agent should stop (default: SIGTERM/SIGINT). */
  stopSignal?: Promise<void>;
}

export const AGENT_VERSION = '0.1.0';
const UNIT_NAME = 'yamori-agent.service';

const USAGE = `usage:
  yamori agent enroll --url URL --token TOKEN [--state DIR]   (token may come from YAMORI_ENROLL_TOKEN)
  yamori agent run [--state DIR] [--no-sensors] [--gate-mount DIR]... [--no-prepare]
      --no-sensors     debugging: no exec gate, no proc connector (policy sync, commands, queue only)
      --gate-mount DIR test/debugging: the exec gate (and its close-write watch) marks only mounts at or below DIR (repeatable)
      --no-prepare     debugging/benchmarks: no close-write watch; executables are hashed and analysed at their first exec only
  yamori agent status [--state DIR] [--json]
  yamori agent install [--state DIR] [--config-dir DIR] [--prefix ROOT] [--no-start]
  yamori agent bundle [--state DIR]   (re)build the agent bundle the service runs (install does it)
  yamori agent uninstall [--password P] [--state DIR] [--prefix ROOT] [--no-stop] [--keep-state]`;

export async function agentCommand(args: string[], deps: AgentCommandDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const out = deps.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = deps.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  const [sub, ...rest] = args;
  let opts: ReturnType<typeof parse>;
  try {
    opts = parse(rest);
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const stateDir = resolve(opts.state ?? env['YAMORI_STATE_DIR'] ?? DEFAULT_STATE_DIR);
  try {
    switch (sub) {
      case 'enroll':
        return await enroll(stateDir, opts, env, out, err);
      case 'run':
        return await run(stateDir, opts, deps, out, err);
      case 'status':
        return status(stateDir, opts, out);
      case 'install':
        return await install(stateDir, opts, deps, out, err);
      case 'bundle': {
        const b = await buildAgentBundle(stateDir);
        out(`built ${b.path} (${b.inputs} modules, ${Math.round(b.bytes / 1024)} KiB)`);
        return 0;
      }
      case 'uninstall':
        return await uninstall(stateDir, opts, deps, out, err);
      default:
        err(USAGE);
        return sub === undefined || sub === 'help' || sub === '--help' ? 0 : 2;
    }
  } catch (e) {
    err(`yamori agent ${sub}: ${(e as Error).message}`);
    return 1;
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: false,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      state: { type: 'string' },
      json: { type: 'boolean' },
      'config-dir': { type: 'string' },
      prefix: { type: 'string' },
      'no-start': { type: 'boolean' },
      'no-stop': { type: 'boolean' },
      'keep-state': { type: 'boolean' },
      password: { type: 'string' },
      'no-sensors': { type: 'boolean' },
      'gate-mount': { type: 'string', multiple: true },
      'no-prepare': { type: 'boolean' },
    },
  }).values;
}
type Opts = ReturnType<typeof parse>;
type Print = (l: string) => void;

async function enroll(stateDir: string, o: Opts, env: NodeJS.ProcessEnv, out: Print, err: Print): Promise<number> {
  const token = o.token ?? env['YAMORI_ENROLL_TOKEN'];
  if (!token) {
    err('no enrollment token: pass --token or set YAMORI_ENROLL_TOKEN (create one in the console: Agents → Enrollment tokens)');
    return 2;
  }
  const facts = collectHostFacts({ agentVersion: AGENT_VERSION });
  const id = await enrollAgent({ stateDir, token, facts, now: Date.now, url: o.url });
  out(`${id.reactivated ? 'reactivated' : 'enrolled'} agent ${id.agentId} with ${id.url} (tenant ${id.tenantId}, group ${id.groupId}); state in ${stateDir}`);
  for (const c of facts.conflicts ?? []) err(`warning: ${c.name} (${c.kind}) may conflict with Yamori: ${c.detail}`);
  return 0;
}

function requireIdentity(stateDir: string) {
  const id = loadIdentity(stateDir);
  if (!id) throw new Error(`not enrolled (no identity in ${stateDir}): run \`yamori agent enroll --url URL --token TOKEN\` first`);
  return id;
}

/** systemd notification through systemd-notify (NotifyAccess=all in the unit); no-op outside systemd. */
function sdNotify(env: NodeJS.ProcessEnv, state: string): void {
  if (!env['NOTIFY_SOCKET']) return;
  // async: the agent's event loop also answers exec permission events
  spawn('systemd-notify', [`--pid=${process.pid}`, state], { stdio: 'ignore', timeout: 5000 }).on('error', () => undefined);
}

function realSensors(o: Opts, err: Print, onSecurityEvent: (e: DetectionEvent) => void): LinuxSensorSet {
  const set = createLinuxSensors({
    log: defaultLog,
    onSecurityEvent,
    ...(o['gate-mount'] ? { gateMounts: o['gate-mount'].map((m) => resolve(m)), markMode: 'mount' as const } : {}),
    ...(o['no-prepare'] ? { prepareOnWrite: false } : {}),
  });
  if (!set.available) {
    err(`warning: the sensor addon is unavailable; protections OFF: ${set.off.map((x) => x.protection).join(', ')} (${set.off[0]?.reason ?? ''})`);
  } else if (o['gate-mount']) {
    err(`warning: exec gate limited to ${o['gate-mount'].join(', ')} (--gate-mount, for tests and debugging)`);
  }
  return set;
}

const packageOwner = (o: { package: string; digestMatches: boolean } | undefined): string | undefined => (o?.digestMatches ? o.package : undefined);

async function run(stateDir: string, o: Opts, deps: AgentCommandDeps, out: Print, err: Print): Promise<number> {
  const env = deps.env ?? process.env;
  const id = requireIdentity(stateDir);
  const caPem = loadCaPem(stateDir);
  if (id.pinned && !caPem) throw new Error(`the pinned CA ${join(stateDir, STATE_FILES.ca)} is missing: enroll again`);
  const client = createAgentClient({ url: id.url, caPem, credentials: { agentId: id.agentId, secret: id.secret }, userAgent: `yamori-agent/${AGENT_VERSION}` });
  let sensors: Sensors = {};
  let native: LinuxSensorSet['native'];
  // the sensors' own security events (exec queue overflow) go to the agent's queue as alerts
  let recordAlert: (e: DetectionEvent) => void = () => undefined;
  if (deps.sensors) sensors = await deps.sensors();
  else if (o['no-sensors']) err('warning: --no-sensors: policy sync, commands and telemetry queue only (no exec control)');
  else ({ sensors, native } = realSensors(o, err, (e) => recordAlert(e)));
  let restartReason: string | undefined;
  let requestStop: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (requestStop = r));
  // Package-manager trust: loaded in the background, re-read when dpkg's state changes.
  const packageTrust = hasDpkg() ? createPackageTrust() : undefined;
  void packageTrust?.refresh().catch((e: unknown) => err(`warning: package trust database not loaded: ${(e as Error).message}`));
  const trustTimer = packageTrust ? setInterval(() => void packageTrust.refresh().catch(() => undefined), 60_000) : undefined;
  trustTimer?.unref();
  // Tenant YARA packs: fetched when the check-in names a new revision; a new set re-opens the kernel's exec cache.
  const yara = createYaraRules({ stateDir, client, log: defaultLog, onRulesChanged: () => sensors.execGate?.flush() });
  if (!yara.available) err(`warning: YARA rules off: ${yara.state().reason ?? 'libyara unavailable'}`);
  // The quarantine store sits in the state directory (the default one is DEFAULT_QUARANTINE_DIR,
  // which `yamori quarantine` opens); opened on first use.
  let store: Promise<QuarantineStore> | undefined;
  const quarantineStore = (): Promise<QuarantineStore> => (store ??= openQuarantineStore(join(stateDir, 'quarantine')));
  const agent = createAgent({
    stateDir,
    client,
    agentId: id.agentId,
    facts: () => collectHostFacts({ agentVersion: AGENT_VERSION }),
    sensors,
    native,
    modules: [...createDefaultModules(), yara, createScheduledScanModule({ yara: () => ({ ruleset: yara.ruleset(), packName: (ns) => yara.packName(ns) }) })],
    engines: deps.engines ?? [createFileEngine(packageTrust ? { packageTrust } : {}), yara.engine],
    // package exclusions match a package's own, unmodified files only
    ...(packageTrust ? { packageOf: async (path: string, fd?: number) => packageOwner(await packageTrust.check(path, fd)) } : {}),
    ...(yara.available ? { yara } : {}),
    // The server's on-demand `scan` command, with the tenant's YARA packs in force.
    commandHandlers: {
      scan: createScanCommandHandler({
        engines: () => ({ yara: yara.ruleset(), yaraOptions: { maxBytes: 64 * 1024 * 1024, timeoutMs: 30_000 } }),
        quarantineStore,
      }),
      quarantine: createQuarantineCommandHandler(quarantineStore),
    },
    quarantine: async (path, reason, expectedSha256) => {
      const e = await (await quarantineStore()).quarantine(path, { reason, source: 'agent', ...(expectedSha256 ? { expectedSha256 } : {}) });
      return `quarantined as ${e.id}`;
    },
    log: defaultLog,
    onRestartRequested: (reason) => {
      restartReason = reason;
      requestStop();
    },
  });
  recordAlert = (e) => agent.record([e]);
  await agent.start();
  sdNotify(env, 'READY=1');
  const watchdogUs = Number(env['WATCHDOG_USEC'] ?? 0);
  const pinger = watchdogUs > 0 ? setInterval(() => sdNotify(env, 'WATCHDOG=1'), Math.max(1000, watchdogUs / 3000)) : undefined;
  out(`agent ${id.agentId} running against ${id.url}`);
  const onSignal = () => requestStop();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await Promise.race([stopped, deps.stopSignal ?? new Promise<never>(() => undefined)]);
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  if (pinger) clearInterval(pinger);
  sdNotify(env, 'STOPPING=1');
  await agent.stop();
  if (restartReason) {
    err(`stopping for a restart: ${restartReason}`);
    return 75; // systemd Restart=always brings the agent back
  }
  return 0;
}

function queueDepth(stateDir: string): number | null {
  const path = join(stateDir, STATE_FILES.queue);
  if (!existsSync(path)) return 0;
  try {
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      return Number((db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n);
    } finally {
      db.close();
    }
  } catch {
    return null;
  }
}

function status(stateDir: string, o: Opts, out: Print): number {
  const id = loadIdentity(stateDir);
  const st = loadStatus(stateDir);
  const pol = readJsonIfExists(join(stateDir, STATE_FILES.policy)) as { revision?: number; appliedAt?: string } | undefined;
  const report = {
    enrolled: id !== undefined,
    stateDir,
    agentId: id?.agentId ?? null,
    server: id?.url ?? null,
    enrolledAt: id?.enrolledAt ?? null,
    lastCheckinAt: st?.lastCheckinAt ?? null,
    lastError: st?.lastError ?? null,
    policyRevision: pol?.revision ?? null,
    queueDepth: queueDepth(stateDir),
    droppedEvents: st?.droppedEvents ?? 0,
    droppedByKind: st?.droppedByKind ?? {},
    isolated: st?.isolated ?? false,
    shedding: st?.shedding ?? [],
    statusUpdatedAt: st?.updatedAt ?? null,
    sensors: st?.sensors ?? [],
  };
  if (o.json) out(JSON.stringify(report, null, 2));
  else if (!id) out(`not enrolled (state dir ${stateDir}); run \`yamori agent enroll --url URL --token TOKEN\``);
  else {
    out(`agent ${report.agentId} enrolled with ${report.server} at ${report.enrolledAt}`);
    out(`last check-in: ${report.lastCheckinAt ?? 'never'}${report.lastError ? ` (last error: ${report.lastError})` : ''}`);
    out(`policy revision: ${report.policyRevision ?? 'none yet (default policy, monitor mode)'}`);
    const byKind = Object.entries(report.droppedByKind).map(([k, n]) => `${k} ${n}`).join(', ');
    out(`event queue: ${report.queueDepth ?? 'unreadable'} event(s) waiting, ${report.droppedEvents} dropped${byKind ? ` (${byKind})` : ''}`);
    if (report.isolated) out('HOST IS ISOLATED (only the management server is reachable)');
    if (report.shedding.length > 0) out(`shedding under resource pressure: ${report.shedding.join(', ')}`);
    for (const sn of report.sensors) out(`sensor ${sn.name}: ${sn.state.toUpperCase()}${sn.reason ? ` (${sn.reason})` : ''}`);
    if (st && report.sensors.length === 0) out('sensors: none attached (no exec control, no process telemetry)');
  }
  return id ? 0 : 3;
}

/**
 * How the service runs node; `npm run bench -- agent-memory` measures the agent started this way.
 * - `cli` is bin/yamori.js: for `agent run --state DIR` it runs the agent bundle in DIR when
 *   prepareAgentService built one (bin/agent-bundle.js), else the sources.
 * - `--max-semi-space-size=1` (MB): V8 otherwise grows the young generation to tens of MB while the
 *   agent starts (module loading, the package database) and keeps it while idle; the agent's
 *   steady allocation is small, so a small young generation costs little collection work.
 * - `--memory-saver-mode`: V8's heuristics for a small footprint (the old generation grows less
 *   between collections), at the cost of more frequent collections; the idle agent's heap went
 *   from 17.5 to 14.7 MB committed.
 * - `--no-maglev --no-concurrent-sparkplug`: Node 24 can deadlock at exit when a background
 *   compile job waits for a garbage collection the exiting main thread never runs
 *   (nodejs/node#64274); an agent hung in its exit would leave the host unprotected until systemd
 *   kills it (a restart after an upgrade waits for the stop).
 * - a compile cache in the state directory (root's, 0700): with it node runs the sources' stripped
 *   JavaScript without loading the TypeScript stripper (its source and WebAssembly memory stay out
 *   of the process) and compiles less at start. `install` fills it before the first start.
 * - glibc's malloc gives blocks of 32 KiB and more their own mappings, returned when freed: by
 *   default its threshold rises with the largest block freed, and the compiler's and the file
 *   engine's freed memory stayed in the process (thread arenas grew 20 MB over 1,000 execs of
 *   unknown files, the main heap 17 MB more over fifteen 10 MB files).
 */
export function agentService(o: { node: string; cli: string; stateDir: string }): { argv: string[]; env: Record<string, string> } {
  return {
    argv: [o.node, '--max-semi-space-size=1', '--memory-saver-mode', '--no-maglev', '--no-concurrent-sparkplug', o.cli, 'agent', 'run', '--state', o.stateDir],
    env: { NODE_COMPILE_CACHE: join(o.stateDir, 'compile-cache'), GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=32768:glibc.malloc.trim_threshold=65536' },
  };
}

export function systemdUnit(o: { node: string; cli: string; stateDir: string; configDir: string }): string {
  const q = (s: string) => (/^[A-Za-z0-9_./@:+=-]+$/.test(s) ? s : JSON.stringify(s));
  const service = agentService(o);
  const environment = { ...service.env, YAMORI_STATE_DIR: o.stateDir, YAMORI_CONFIG_DIR: o.configDir };
  return `[Unit]
Description=Yamori endpoint agent
Documentation=https://github.com/yamori
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
NotifyAccess=all
ExecStart=${service.argv.map(q).join(' ')}
${Object.entries(environment).map(([k, v]) => `Environment=${k}=${q(v)}`).join('\n')}
Restart=always
RestartSec=5
WatchdogSec=60
TimeoutStopSec=30
OOMScoreAdjust=-900
LimitNOFILE=65536
UMask=0077

[Install]
WantedBy=multi-user.target
`;
}

function paths(stateDir: string, o: Opts) {
  const prefix = resolve(o.prefix ?? '/');
  const configDir = o['config-dir'] ?? '/etc/yamori';
  return {
    prefix,
    configDir,
    unitPath: join(prefix, 'etc/systemd/system', UNIT_NAME),
    configPath: join(prefix, configDir, 'agent.json'),
    stateOnDisk: stateDir,
  };
}

/** The `yamori` command of this checkout (bin/yamori.js), which the service runs. */
export const YAMORI_BIN = fileURLToPath(new URL('../../bin/yamori.js', import.meta.url));

/**
 * What `install` does before the service's first start (the benches do it too): the agent bundle
 * built into the state directory, then the compile cache filled for the bundle and for the sources
 * (the fallback), with the service's own environment, so that neither start compiles from scratch
 * nor loads the TypeScript stripper. The directories are made here, root's only: node would make a
 * missing state directory with the shell's umask. Returns a warning when there is no bundle.
 */
export async function prepareAgentService(o: { node: string; cli: string; stateDir: string }): Promise<string | undefined> {
  const service = agentService(o);
  mkdirSync(service.env.NODE_COMPILE_CACHE ?? join(o.stateDir, 'compile-cache'), { recursive: true, mode: 0o700 });
  const env = { ...process.env, ...service.env };
  const fill = (args: string[]) => spawnSync(o.node, args, { env, stdio: 'ignore', timeout: 60_000 });
  // `yamori agent help` loads the whole agent from its sources
  fill([o.cli, 'agent', 'help']);
  try {
    const bundle = await buildAgentBundle(o.stateDir);
    fill([bundle.path, 'help']);
    return undefined;
  } catch (e) {
    return `no agent bundle, the service runs the sources (more memory): ${(e as Error).message}`;
  }
}

async function install(stateDir: string, o: Opts, deps: AgentCommandDeps, out: Print, err: Print): Promise<number> {
  const p = paths(stateDir, o);
  const cli = YAMORI_BIN;
  writeFileAtomic(p.unitPath, systemdUnit({ node: process.execPath, cli, stateDir, configDir: p.configDir }), 0o644);
  writeFileAtomic(p.configPath, `${JSON.stringify({ stateDir, version: AGENT_VERSION }, null, 2)}\n`, 0o600);
  out(`wrote ${p.unitPath} and ${p.configPath}`);
  const warning = await prepareAgentService({ node: process.execPath, cli, stateDir });
  if (warning) err(`warning: ${warning}`);
  if (o['no-start']) {
    out('not started (--no-start): run `systemctl daemon-reload && systemctl enable --now yamori-agent` when ready');
    return 0;
  }
  const systemctl = deps.systemctl ?? ((a: string[]) => spawnSync('systemctl', a, { stdio: 'inherit' }).status ?? 1);
  if (systemctl(['daemon-reload']) !== 0 || systemctl(['enable', '--now', UNIT_NAME]) !== 0) {
    err('systemctl failed: check `journalctl -u yamori-agent`; is this a systemd host?');
    return 1;
  }
  out('yamori-agent enabled and started');
  return 0;
}

async function uninstall(stateDir: string, o: Opts, deps: AgentCommandDeps, out: Print, err: Print): Promise<number> {
  const p = paths(stateDir, o);
  const pol = readJsonIfExists(join(p.stateOnDisk, STATE_FILES.policy)) as { document?: { uninstall?: { passwordHash?: string | null } } } | undefined;
  const check = await checkUninstall(pol?.document?.uninstall?.passwordHash ?? null, o.password);
  if (!check.ok) {
    err(`uninstall refused: ${check.reason ?? ''}`);
    return 4;
  }
  if (!o['no-stop']) {
    const systemctl = deps.systemctl ?? ((a: string[]) => spawnSync('systemctl', a, { stdio: 'inherit' }).status ?? 1);
    systemctl(['disable', '--now', UNIT_NAME]);
    const id = loadIdentity(p.stateOnDisk);
    const iso = createIsolation({ runNft: createNftRunner(), serverPeers: () => resolveServerPeers(id?.url ?? 'https://127.0.0.1'), stateDir: p.stateOnDisk });
    if (iso.isolated()) {
      try {
        out(await iso.release());
      } catch (e) {
        err(`could not release host isolation: ${(e as Error).message}; run \`nft delete table inet yamori_isolation\``);
      }
    }
  }
  // The ransomware decoys in users' folders go with the agent (only files still exactly as written).
  const decoys = removeAllDecoys(p.stateOnDisk);
  if (decoys > 0) out(`removed ${decoys} ransomware decoy file${decoys === 1 ? '' : 's'}`);
  rmSync(p.unitPath, { force: true });
  rmSync(p.configPath, { force: true });
  if (!o['keep-state']) rmSync(p.stateOnDisk, { recursive: true, force: true });
  out(`yamori agent uninstalled${o['keep-state'] ? ` (state kept in ${p.stateOnDisk})` : ''}`);
  return 0;
}
