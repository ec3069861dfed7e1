// `npm run bench -- exec [--n 1000] [--cold 15] [--paced 2000] [--storm 20000] [--no-fapolicyd]`
//
// Cost of the agent's pre-execution control, all in one run on this machine: fork+exec+wait of a
// dynamic `/bin/true` copy and of a small static binary, N times each, with
//   - no agent (baseline),
//   - the real agent (`yamori agent run` against `yamori up`) in monitor mode and in block mode, on
//     files unknown to it (every exec is a round trip to the agent: capture, hash memo, decision),
//     and on a file it allowed with cache (kernel ignore mark: "warm"),
//   - Debian's fapolicyd in permissive mode (its sample "known-libs" rules).
// Also: the decision for a cold 10 MB unknown file (hash + static analysis + server lookup), run
// 200 ms after it was written (download, then run: the agent's close-write watch has hashed and
// prepared it meanwhile, ADR 0011) and at once after the write; the process-start events lost at
// 1,000 execs/s; the agent's RSS and idle CPU; and what the close-write watch costs the agent while
// something writes many small non-executable files (agent restarted with --no-prepare to compare).
// The agent's exec gate marks only a tmpfs mounted for the run (--gate-mount), so other people's
// execs on a shared machine are not slowed; fapolicyd marks every filesystem it watches while it runs.
// Last line: one JSON object.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultPolicy, type Policy } from '@yamori/protocol';
import { agentService } from '../apps/cli/src/commands/agent.ts';
import { upWithEnrolledAgent, YAMORI, type ServerProcess } from '../apps/cli/src/test-support.ts';
import { cpuPercentOver, rssMb } from './proc-stats.ts';

const { values: opt } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    cold: { type: 'string', default: '15' },
    paced: { type: 'string', default: '2000' },
    storm: { type: 'string', default: '20000' },
    'no-fapolicyd': { type: 'boolean', default: false },
  },
});
const N = Number(opt.n);
const COLD = Number(opt.cold);
const PACED = Number(opt.paced);
const STORM = Number(opt.storm);

if (process.getuid?.() !== 0) {
  console.error('bench exec needs root (fanotify, mount)');
  process.exit(2);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

// fork+exec+wait in C: Node's spawn costs more than the exec being measured.
const LOOP_C = `
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
static long long ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }
int main(int argc, char **argv) {
  if (argc < 4) return 2;
  const char *path = argv[1]; long n = atol(argv[2]); long rate = atol(argv[3]);
  long long start = ns(), period = rate > 0 ? 1000000000LL / rate : 0;
  char arg[32];
  for (long i = 0; i < n; i++) {
    if (period) { long long due = start + i * period; struct timespec ts = { due / 1000000000LL, due % 1000000000LL };
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL); }
    snprintf(arg, sizeof arg, "n-%ld", i);
    long long t0 = ns();
    pid_t pid = fork();
    if (pid == 0) { char *a[] = { (char *)path, arg, NULL }; execv(path, a); _exit(127); }
    int st = 0; waitpid(pid, &st, 0);
    long long t1 = ns();
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "exec %ld failed: %d\\n", i, st); return 1; }
    printf("%lld\\n", t1 - t0);
  }
  return 0;
}
`;

const work = mkdtempSync(join(tmpdir(), 'yamori-bench-exec-'));
// The measured binaries live under /run (root's), not /tmp: a program run from a world-writable
// directory is what the behaviour rule exec_from_world_writable alerts on, and an alert per exec
// would measure the alert path, not the exec gate.
const mounts = mkdtempSync('/run/yamori-bench-exec-');
const gated = join(mounts, 'gated');
// the same binaries on a tmpfs the gate does not mark: the baseline, measured alternately with each
// mode so both see the same load on a shared machine
const plain = join(mounts, 'plain');
const data = join(work, 'data');
const state = join(work, 'agent');
execFileSync('mkdir', ['-p', gated, plain, data, state]);
execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256m,mode=0755', 'yamori-bench-exec', gated]);
execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0755', 'yamori-bench-plain', plain]);
let server: ServerProcess | undefined;
let agent: ChildProcess | undefined;
let fapolicyd: ChildProcess | undefined;
const cleanup = () => {
  agent?.kill('SIGKILL');
  fapolicyd?.kill('SIGTERM');
  void server?.stop();
  for (const m of [gated, plain]) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      // gone
    }
  }
};
process.on('exit', () => {
  cleanup();
  rmSync(work, { recursive: true, force: true });
  rmSync(mounts, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

writeFileSync(join(work, 'loop.c'), LOOP_C);
writeFileSync(join(work, 'static.c'), 'int main(void) { return 0; }\n');
const loopBin = join(work, 'execloop');
execFileSync('gcc', ['-O2', '-o', loopBin, join(work, 'loop.c')]);
execFileSync('gcc', ['-O2', '-static', '-o', join(work, 'static'), join(work, 'static.c')]);

/** A distinct file in the gated tmpfs: a copy of `source` plus its own trailing bytes (own hash). */
const makeBin = (name: string, source: string, extra = 32) => {
  const path = join(gated, name);
  copyFileSync(source, path);
  appendFileSync(path, randomBytes(extra));
  chmodSync(path, 0o755);
  return { path, sha: sha256(readFileSync(path)) };
};

const loop = (path: string, n: number, rate = 0): Promise<number[]> =>
  new Promise((resolve, reject) =>
    execFile(loopBin, [path, String(n), String(rate)], { maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(stdout.trim().split('\n').map((l) => Number(l) / 1000)),
    ),
  );

interface Row {
  mode: string;
  dynP50: number;
  dynP99: number;
  staticP50: number;
  staticP99: number;
  /** p50 of /bin/true with no agent in the same interval (interleaved chunks). */
  baseP50?: number;
}
const baseDyn: number[] = [];
const baseStatic: number[] = [];
const print = (row: Row) =>
  console.log(
    `${row.mode.padEnd(30)} /bin/true p50 ${row.dynP50.toFixed(0).padStart(6)} µs  p99 ${row.dynP99.toFixed(0).padStart(6)} µs   static p50 ${row.staticP50.toFixed(0).padStart(6)} µs  p99 ${row.staticP99.toFixed(0).padStart(6)} µs`,
  );
/** N execs of each binary in chunks, alternating with the ungated copies (pooled into the baseline). */
const measure = async (mode: string, dyn: string, stat: string, interleave = true): Promise<Row> => {
  await settle(); // what the previous phase left the agent to do is not this phase's cost
  await loop(dyn, 20); // warm-up
  const d: number[] = [];
  const s: number[] = [];
  const bd: number[] = [];
  const bs: number[] = [];
  const chunk = Math.max(1, Math.min(100, N));
  for (let done = 0; done < N; done += chunk) {
    if (interleave) bd.push(...(await loop(plainDyn, chunk)));
    d.push(...(await loop(dyn, chunk)));
    if (interleave) bs.push(...(await loop(plainStatic, chunk)));
    s.push(...(await loop(stat, chunk)));
  }
  baseDyn.push(...bd);
  baseStatic.push(...bs);
  const row: Row = { mode, dynP50: pct(d, 50), dynP99: pct(d, 99), staticP50: pct(s, 50), staticP99: pct(s, 99), ...(interleave ? { baseP50: pct(bd, 50) } : {}) };
  if (interleave) print({ mode: '  no agent (same interval)', dynP50: pct(bd, 50), dynP99: pct(bd, 99), staticP50: pct(bs, 50), staticP99: pct(bs, 99) });
  print(row);
  if (shedding()) console.log(`  ${shedding().trim()}`);
  return row;
};

const dyn = makeBin('true-dyn', '/bin/true');
const stat = makeBin('static', join(work, 'static'));
const warm = makeBin('true-warm', '/bin/true');
const warmStatic = makeBin('static-warm', join(work, 'static'));
const plainDyn = join(plain, 'true-dyn');
const plainStatic = join(plain, 'static');
copyFileSync(dyn.path, plainDyn);
copyFileSync(stat.path, plainStatic);
chmodSync(plainDyn, 0o755);
chmodSync(plainStatic, 0o755);

console.log(`fork+exec+wait, ${N} runs per binary per mode (µs); the gate marks only ${gated}`);

// ---------- the real agent against the real server ----------
// the agent runs as its systemd unit runs it (node flags, environment); enrolling fills its compile cache as `install` does
const service = agentService({ node: process.execPath, cli: YAMORI, stateDir: state });
const serviceEnv = { ...process.env, ...service.env };
const up = await upWithEnrolledAgent({ data, stateDir: state, tokenName: 'bench', env: service.env });
server = up.server;
const { api, agentId, policyId } = up;
let agentOut = '';
/** Waits (at most 30 s) until the agent is quiet: less than 10 % of a core over one second. */
const settle = async () => {
  for (let i = 0; i < 30 && agent?.pid; i++) {
    if ((await cpuPercentOver(agent.pid, 1000)) < 10) return;
  }
};
/** What the agent's watchdog is shedding now (its status file), for the record of each phase. */
const shedding = (): string => {
  try {
    const list = (JSON.parse(readFileSync(join(state, 'status.json'), 'utf8')) as { shedding?: string[] }).shedding ?? [];
    return list.length > 0 ? ` [agent sheds: ${list.join(', ')}]` : '';
  } catch {
    return '';
  }
};
const startAgent = async (extra: string[] = []) => {
  agentOut = '';
  agent = spawn(process.execPath, [...service.argv.slice(1), '--gate-mount', gated, ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: serviceEnv });
  agent.stdout?.on('data', (d: Buffer) => (agentOut += d.toString()));
  agent.stderr?.on('data', (d: Buffer) => (agentOut = (agentOut + d.toString()).slice(-20000)));
  for (let i = 0; !agentOut.includes('agent started'); i++) {
    if (i > 300) throw new Error(`agent did not start:\n${agentOut}`);
    await sleep(100);
  }
};
const stopAgent = async () => {
  agent?.kill('SIGTERM');
  await new Promise((r) => agent?.once('exit', r));
  agent = undefined;
};
await startAgent();
const applied = () => {
  try {
    return (JSON.parse(readFileSync(join(state, 'policy.json'), 'utf8')) as { revision?: number }).revision;
  } catch {
    return undefined;
  }
};
const deploy = async (edit: (p: Policy) => void) => {
  const doc = defaultPolicy();
  doc.exec = { decisionTimeoutMs: 1000, onTimeout: 'allow', failClosedPaths: [] };
  doc.telemetry.maxEventsPerSecond = 20_000;
  doc.exclusions = [
    { id: 'bench-warm', kind: 'sha256', value: warm.sha },
    { id: 'bench-warm-static', kind: 'sha256', value: warmStatic.sha },
  ];
  edit(doc);
  const rev = (await api('POST', `/policies/${policyId}/revisions`, { document: doc })).json<{ revision: number }>();
  await api('POST', `/policies/${policyId}/revisions/${rev.revision}/approve`);
  await api('POST', `/policies/${policyId}/revisions/${rev.revision}/deploy`);
  for (let i = 0; applied() !== rev.revision; i++) {
    if (i > 300) throw new Error('policy not applied');
    await sleep(100);
  }
};

await deploy((p) => (p.modules.malware.mode = 'monitor'));
// cold 10 MB unknown files: hash + static analysis + YARA + server lookup, one exec each, first:
// the heavy phases below push the agent over its CPU budget (10 % for 12 s), after which its
// watchdog sheds deep scans (pre-analysis, engines) for minutes, and this would measure that. Run 200 ms
// after the write (the realistic download-then-run case: the close-write watch has had time), and at
// once after it (the exec races the pre-analysis and hashes the file itself unless it is under way).
const makeCold = (name: string) => {
  const path = join(gated, name);
  copyFileSync('/bin/true', path);
  appendFileSync(path, randomBytes(10 << 20));
  chmodSync(path, 0o755);
  return path;
};
const coldExecs = async (label: string, afterMs: number): Promise<number[]> => {
  const ms: number[] = [];
  for (let i = 0; i < COLD; i++) {
    const path = makeCold(`cold-${label}-${i}`);
    if (afterMs > 0) await sleep(afterMs);
    const [us] = await loop(path, 1);
    ms.push((us ?? NaN) / 1000);
    rmSync(path);
    await sleep(50); // let the agent finish with the previous file
  }
  console.log(`cold 10 MB unknown file, first exec ${label.padEnd(28)}: p50 ${pct(ms, 50).toFixed(1)} ms, p99 ${pct(ms, 99).toFixed(1)} ms (${COLD} files)${shedding()}`);
  return ms;
};
await settle();
const cold10 = pct(await coldExecs('200 ms after it was written', 200), 50);
const cold10Now = pct(await coldExecs('right after it was written', 0), 50);

const monitor = await measure('agent monitor (unknown file)', dyn.path, stat.path);
const warmRow = await measure('agent, cached (ignore mark)', warm.path, warmStatic.path);

// process-start events lost at a paced 1,000 execs/s
const paced = makeBin('paced', '/bin/true');
if (PACED > 0) await loop(paced.path, PACED, 1000);
const startsAtServer = async (path: string): Promise<number> => {
  let n = 0;
  let cursor: number | null = null;
  do {
    const q: string = `/events?dataset=yamori.process&agentId=${agentId}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`;
    const page = (await api('GET', q)).json<{ items: Array<{ event: { event: { type: string[] }; process?: { executable?: string } } }>; nextCursor: number | null }>();
    n += page.items.filter((r) => r.event.process?.executable === path && r.event.event.type.includes('start')).length;
    cursor = page.nextCursor;
  } while (cursor !== null);
  return n;
};
let received = 0;
for (let i = 0; i < 60 && PACED > 0; i++) {
  received = await startsAtServer(paced.path);
  if (received >= PACED) break;
  await sleep(1000);
}
const lost = PACED - received;
console.log(`${PACED} execs at 1,000/s: ${received} process-start events at the server, ${lost} lost`);

await deploy((p) => (p.modules.malware.mode = 'block'));
const block = await measure('agent block (unknown file)', dyn.path, stat.path);

// idle footprint: once the agent has finished with the burst (uploads, shedding decisions)
await settle();
await sleep(3000);
let apid = agent?.pid ?? 0;
const idleCpu = await cpuPercentOver(apid, 10_000);
const agentRssMb = rssMb(apid);
console.log(`agent idle: ${idleCpu.toFixed(2)} % CPU, RSS ${agentRssMb.toFixed(0)} MB`);

// what the close-write watch costs: CPU of every agent thread (schedstat, ns) while a shell creates
// STORM small non-executable files in the gated tmpfs; the kernel opens each for the watch, whose
// thread fstat()s and closes it (JavaScript never hears of them)
const agentCpuNs = (pid: number) => {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended
    }
  }
  return ns;
};
const storm = async (label: string, slug: string): Promise<{ cpuMs: number; wallMs: number }> => {
  const dir = join(gated, `storm-${slug}`);
  execFileSync('mkdir', ['-p', dir]);
  await sleep(2000);
  const c0 = agentCpuNs(apid);
  const w = performance.now();
  execFileSync('/bin/sh', ['-c', `cd ${dir} && i=0; while [ $i -lt ${STORM} ]; do echo data > f$i.txt; i=$((i+1)); done`]);
  const wallMs = performance.now() - w;
  await sleep(1000); // what the agent still had queued
  const busyMs = (agentCpuNs(apid) - c0) / 1e6;
  // the agent's background CPU over a window as long, right after: subtracted
  const windowMs = performance.now() - w;
  const q0 = agentCpuNs(apid);
  await sleep(windowMs);
  const quietMs = (agentCpuNs(apid) - q0) / 1e6;
  rmSync(dir, { recursive: true, force: true });
  const cpuMs = Math.max(0, busyMs - quietMs);
  console.log(
    `${STORM} small files written in the gated tmpfs, ${label.padEnd(26)}: agent CPU ${cpuMs.toFixed(0)} ms (${busyMs.toFixed(0)} ms, minus ${quietMs.toFixed(0)} ms in a quiet window as long), writer ${wallMs.toFixed(0)} ms`,
  );
  return { cpuMs, wallMs };
};
const stormWatch = await storm('with the close-write watch', 'watch');
await stopAgent();
await startAgent(['--no-prepare']);
apid = agent?.pid ?? 0;
const stormPlain = await storm('without it (--no-prepare)', 'plain');
await stopAgent();
await server.stop();
server = undefined;

// ---------- fapolicyd, permissive ----------
let fapo: Row | undefined;
if (!opt['no-fapolicyd']) {
  try {
    execFileSync('bash', [join(import.meta.dirname, '..', 'scripts', 'apt-ensure.sh'), 'fapolicyd'], { stdio: 'inherit' });
    if (!existsSync('/etc/fapolicyd/compiled.rules')) {
      // the sample "known-libs" rule set its README recommends
      const dir = '/usr/share/fapolicyd/sample-rules';
      const set = ['10-languages', '20-dracut', '21-updaters', '30-patterns', '40-bad-elf', '41-shared-obj', '42-trusted-elf', '70-trusted-lang', '72-shell', '90-deny-execute', '95-allow-open'];
      writeFileSync('/etc/fapolicyd/compiled.rules', set.map((s) => readFileSync(join(dir, `${s}.rules`), 'utf8')).join('\n'));
    }
    const conf = '/etc/fapolicyd/fapolicyd.conf';
    const confText = readFileSync(conf, 'utf8');
    const startFapolicyd = async (): Promise<string | undefined> => {
      let out = '';
      const child = spawn('fapolicyd', ['--permissive', '--debug-deny'], { stdio: ['ignore', 'ignore', 'pipe'] });
      fapolicyd = child;
      child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
      await sleep(5000); // loads its trust database, then marks the filesystems
      return child.exitCode === null ? undefined : out.trim().split('\n').at(-1) ?? `exit ${child.exitCode}`;
    };
    let failed = await startFapolicyd();
    let asRoot = false;
    if (failed?.startsWith('Cannot change to uid')) {
      // Dropping to its own user, fapolicyd keeps CAP_SYS_RESOURCE, which a machine (or container)
      // without it in its bounding set cannot grant: run it as root for the measurement (its
      // decision path is the same), and put the configuration back afterwards.
      writeFileSync(conf, confText.replace(/^uid = .*$/m, 'uid = root').replace(/^gid = .*$/m, 'gid = root'));
      asRoot = true;
      try {
        failed = await startFapolicyd();
      } finally {
        writeFileSync(conf, confText);
      }
    }
    if (failed !== undefined) throw new Error(`fapolicyd exited: ${failed}`);
    // fapolicyd watches every tmpfs, the ungated one too: no interleaved baseline here
    fapo = await measure(`fapolicyd (permissive${asRoot ? ', as root' : ''})`, dyn.path, stat.path, false);
  } catch (err) {
    console.log(`fapolicyd not measured: ${(err as Error).message}`);
  } finally {
    fapolicyd?.kill('SIGTERM');
    fapolicyd = undefined;
  }
}

const base: Row = { mode: 'no agent (all intervals)', dynP50: pct(baseDyn, 50), dynP99: pct(baseDyn, 99), staticP50: pct(baseStatic, 50), staticP99: pct(baseStatic, 99) };
print(base);
const r2 = (x: number) => Math.round(x * 100) / 100;
// each mode against no agent in its own interval: on a shared machine the load moves between phases
const ratio = (row: Row) => r2(row.dynP50 / (row.baseP50 ?? base.dynP50));
console.log(
  `ratios to no agent in the same interval (p50, /bin/true): monitor ${ratio(monitor)}, block ${ratio(block)}, cached ${ratio(warmRow)}${fapo ? `, fapolicyd ${ratio(fapo)} (to all intervals)` : ''}`,
);
console.log(
  JSON.stringify({
    baseline_p50_us: Math.round(base.dynP50),
    monitor_p50_us: Math.round(monitor.dynP50),
    block_p50_us: Math.round(block.dynP50),
    fapolicyd_p50_us: fapo ? Math.round(fapo.dynP50) : null,
    warm_ratio: ratio(warmRow),
    cold_ratio: ratio(block),
    monitor_ratio: ratio(monitor),
    fapolicyd_ratio: fapo ? ratio(fapo) : null,
    cold_10mb_p50_ms: r2(cold10),
    cold_10mb_immediate_p50_ms: r2(cold10Now),
    lost_exec_events: lost,
    agent_rss_mb: Math.round(agentRssMb),
    agent_idle_cpu_pct: r2(idleCpu),
    write_storm_files: STORM,
    write_storm_agent_cpu_ms: Math.round(stormWatch.cpuMs),
    write_storm_agent_cpu_ms_no_watch: Math.round(stormPlain.cpuMs),
    write_storm_writer_ms: Math.round(stormWatch.wallMs),
    write_storm_writer_ms_no_watch: Math.round(stormPlain.wallMs),
  }),
);
process.exit(0);
