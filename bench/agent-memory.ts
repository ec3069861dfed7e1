// `npm run bench -- agent-memory [--idle 30] [--no-sensors] [--plain] [--smaps] [--node-flag=--FLAG]...`
//
// The agent's idle memory: a real `yamori agent run` started as the systemd unit starts it (node
// flags, environment, prepared beforehand as `install` prepares it: the agent bundle built, the
// compile caches filled; --plain: a bare `yamori agent run` from the sources), with
// real sensors (the exec gate limited to a tmpfs mounted for the run), enrolled with a real
// `yamori up` on this machine, left idle, then measured from /proc (VmRSS, RssAnon, RssFile) and
// from inside (process.memoryUsage() through a preloaded signal handler that only reports).
// Baseline: a bare `node -e` process measured the same way in the same run. Issue 3's target is
// ≤ 80 MB RSS and ≤ 1 % of one core when idle.
// --smaps: also the agent's V8 spaces and its mappings with the most resident memory. --node-flag:
// a node or V8 flag added to the unit's, to measure it before it goes into agentService.
// Last line: one JSON object.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { agentService } from '../apps/cli/src/commands/agent.ts';
import { upWithEnrolledAgent, YAMORI } from '../apps/cli/src/test-support.ts';
import { cpuPercentOver } from './proc-stats.ts';

const { values: opt } = parseArgs({
  options: {
    idle: { type: 'string', default: '30' },
    'no-sensors': { type: 'boolean', default: false },
    plain: { type: 'boolean', default: false },
    smaps: { type: 'boolean', default: false },
    'node-flag': { type: 'string', multiple: true },
  },
});
const IDLE_S = Number(opt.idle);
const root = process.getuid?.() === 0;
const sensors = root && !opt['no-sensors'];
if (!sensors) console.log('(not root or --no-sensors: the agent runs without sensors)');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (kb: number) => kb / 1024;

// Reports process.memoryUsage() on SIGUSR2, then the heap still in use after a full collection
// (heapLive), read after /proc (a preload: the agent's code is not changed for the bench).
const PROBE = `data:text/javascript,import v8 from 'node:v8'; import vm from 'node:vm';
process.on('SIGUSR2', () => {
  const u = process.memoryUsage();
  v8.setFlagsFromString('--expose-gc');
  vm.runInNewContext('gc')();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, [s.space_used_size, s.physical_space_size]]));
  process.stderr.write('YAMORI-MEM ' + JSON.stringify({ ...u, heapLive: process.memoryUsage().heapUsed, spaces }) + '\\n');
});`;

interface Mem {
  rss: number;
  anon: number;
  file: number;
  heapUsed: number;
  heapLive: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** /proc figures plus the process's own view, both in MB. */
async function measure(child: ChildProcess, output: () => string): Promise<Mem> {
  const pid = child.pid ?? 0;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  const before = output().length;
  child.kill('SIGUSR2');
  let inside: (Record<string, number> & { spaces?: Record<string, [number, number]> }) | undefined;
  for (let i = 0; i < 50 && !inside; i++) {
    await sleep(100);
    const m = /YAMORI-MEM (\{.*\})/.exec(output().slice(before));
    if (m?.[1]) inside = JSON.parse(m[1]) as typeof inside;
  }
  if (opt.smaps && inside?.spaces) {
    const spaces = Object.entries(inside.spaces).map(([n, [used, phys]]) => `${n} ${mb(used / 1024).toFixed(1)}/${mb(phys / 1024).toFixed(1)}`);
    console.log(`pid ${pid} V8 spaces (used/resident MB): ${spaces.join(', ')}`);
  }
  const b = (k: string) => (inside?.[k] ?? NaN) / (1024 * 1024);
  return {
    rss: mb(kb('VmRSS')),
    anon: mb(kb('RssAnon')),
    file: mb(kb('RssFile')),
    heapUsed: b('heapUsed'),
    heapLive: b('heapLive'),
    heapTotal: b('heapTotal'),
    external: b('external'),
    arrayBuffers: b('arrayBuffers'),
  };
}
const line = (name: string, m: Mem) =>
  console.log(
    `${name.padEnd(12)} RSS ${m.rss.toFixed(1).padStart(6)} MB (anon ${m.anon.toFixed(1)}, file ${m.file.toFixed(1)})   V8 heap used ${m.heapUsed.toFixed(1)} (live ${m.heapLive.toFixed(1)}) / total ${m.heapTotal.toFixed(1)} MB   external ${m.external.toFixed(1)} MB (array buffers ${m.arrayBuffers.toFixed(1)})`,
  );

/** --smaps: the agent's mappings with the most resident memory, by file (anonymous ones as [anon]). */
function topMappings(pid: number): void {
  const rss = new Map<string, number>();
  let name = '';
  for (const l of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(l);
    if (head) name = head[1] || '[anon]';
    const m = /^Rss:\s+(\d+) kB/.exec(l);
    if (m) rss.set(name, (rss.get(name) ?? 0) + Number(m[1]));
  }
  for (const [n, kb] of [...rss].sort((x, y) => y[1] - x[1]).slice(0, 15)) console.log(`  ${mb(kb).toFixed(1).padStart(6)} MB  ${n}`);
}

const work = mkdtempSync(join(tmpdir(), 'yamori-bench-agent-memory-'));
const data = join(work, 'data');
const state = join(work, 'agent');
const gated = join(work, 'gated');
execFileSync('mkdir', ['-p', data, state, gated]);
if (sensors) execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0755', 'yamori-bench-memory', gated]);
// every process started here, killed on the way out
const started: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of started) c.kill('SIGKILL');
  if (sensors) {
    try {
      execFileSync('umount', ['-l', gated]);
    } catch {
      // gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

// the unit's command line and environment (--plain: none of it), with the probe preloaded
const service = agentService({ node: process.execPath, cli: YAMORI, stateDir: state });
const [, ...runArgs] = opt.plain ? [process.execPath, YAMORI, 'agent', 'run', '--state', state] : service.argv;
const env = { ...process.env, ...(opt.plain ? {} : service.env) };
// prepared as `install` prepares the service (bundle, compile caches); --plain: the sources, no cache
const { server } = await upWithEnrolledAgent({ data, stateDir: state, tokenName: 'bench', ...(opt.plain ? {} : { env }) });
const bundled = !opt.plain && existsSync(join(state, 'agent-bundle', 'agent.mjs'));
if (!opt.plain && !bundled) console.log('(no agent bundle was built: the agent runs its sources)');
started.push(server.child);

let agentOut = '';
const args = ['--import', PROBE, ...(opt['node-flag'] ?? []), ...runArgs, ...(sensors ? ['--gate-mount', gated] : ['--no-sensors'])];
console.log(`agent: node ${args.slice(2).join(' ')}${opt.plain ? '' : ` with ${Object.entries(service.env).map(([k, v]) => `${k}=${v}`).join(' ')}`}`);
const agent = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
started.push(agent);
agent.stdout?.on('data', (d: Buffer) => (agentOut += d.toString()));
agent.stderr?.on('data', (d: Buffer) => (agentOut = (agentOut + d.toString()).slice(-20000)));
for (let i = 0; !agentOut.includes('agent started'); i++) {
  if (i > 600 || agent.exitCode !== null) throw new Error(`agent did not start:\n${agentOut}`);
  await sleep(100);
}
let bareOut = '';
const bare = spawn(process.execPath, ['--import', PROBE, '-e', 'setInterval(() => {}, 1000)'], { stdio: ['ignore', 'ignore', 'pipe'] });
started.push(bare);
bare.stderr?.on('data', (d: Buffer) => (bareOut += d.toString()));

console.log(`agent started; idle ${IDLE_S} s…`);
const apid = agent.pid ?? 0;
await sleep(Math.max(0, IDLE_S - 10) * 1000);
const idleCpu = await cpuPercentOver(apid, Math.min(10, IDLE_S) * 1000);
const a = await measure(agent, () => agentOut);
const b = await measure(bare, () => bareOut);
line('agent', a);
line('bare node', b);
if (opt.smaps) topMappings(apid);
const r1 = (x: number) => Math.round(x * 10) / 10;
const ratio = Math.round((a.rss / b.rss) * 100) / 100;
console.log(`agent idle CPU ${idleCpu.toFixed(2)} % of one core; RSS ${ratio}× a bare node process (target ≤ 80 MB, ≤ 1 %)`);
console.log(
  JSON.stringify({
    agent_rss_mb: r1(a.rss),
    agent_heap_mb: r1(a.heapUsed),
    agent_heap_live_mb: r1(a.heapLive),
    agent_heap_total_mb: r1(a.heapTotal),
    agent_external_mb: r1(a.external),
    agent_rss_anon_mb: r1(a.anon),
    agent_rss_file_mb: r1(a.file),
    agent_idle_cpu_pct: Math.round(idleCpu * 100) / 100,
    agent_bundle: bundled,
    baseline_node_rss_mb: r1(b.rss),
    ratio,
  }),
);
process.exit(0);
