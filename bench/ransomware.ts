// `npm run bench -- ransomware [--files 10000] [--threads 4]`
//
// The ransomware simulator (apps/agent/src/ransomware/testing/simulator.ts: AES-256-CTR via
// node:crypto, in directory order, in place then renamed to .locked, a ransom note per directory)
// against the agent's ransomware module in block mode, all on this machine in one run:
//   - unprotected: the baseline (how long the whole tree takes, every file lost);
//   - protected, one thread and N worker threads: decoys in every folder of the tree;
//   - protected, a family that skips hidden and '~' files (it never touches a decoy), one thread
//     and N threads: what the behavioural detector alone saves;
//   - a backup tool on the exclusion list (a hard link of node at an excluded path, doing the same
//     writes, decoys included): it must run to the end, undenied and unkilled.
// The module runs with the real sensor addon, the real process tree fed by the proc connector and
// the agent's real responder (pidfd kill_tree), as in its tests; no server is needed for a kill.
// Files lost = files whose content is no longer the original (encrypted, renamed or truncated);
// time to kill = from the simulator's first file to its exit as seen here.
// Last line: one JSON object.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadLinuxSensors, type LinuxSensors } from '@yamori/sensor-linux';
import { decoyContent, type DecoyType } from '../apps/agent/src/ransomware/decoy-content.ts';
import { ransomwarePolicy, startHarness, type Harness } from '../apps/agent/src/ransomware/testing/harness.ts';

const { values: opt } = parseArgs({
  options: {
    files: { type: 'string', default: '10000' },
    threads: { type: 'string', default: '4' },
  },
});
const FILES = Number(opt.files);
const THREADS = Number(opt.threads);

if (process.getuid?.() !== 0) {
  console.error('bench ransomware needs root (fanotify)');
  process.exit(2);
}
const loaded = loadLinuxSensors();
if (!loaded.available) {
  console.error(`the sensor addon is unavailable: ${loaded.reason}`);
  process.exit(2);
}
const native: LinuxSensors = loaded.sensors;

const SIMULATOR = join(import.meta.dirname, '..', 'apps', 'agent', 'src', 'ransomware', 'testing', 'simulator.ts');
const work = mkdtempSync(join(tmpdir(), 'yamori-bench-ransomware-'));
const stateDir = join(work, 'state');
const root = join(work, 'data');
const bin = join(work, 'bin');
mkdirSync(stateDir);
mkdirSync(bin);
const backupTool = join(bin, 'yamori-bench-backup');
try {
  linkSync(process.execPath, backupTool);
} catch {
  copyFileSync(process.execPath, backupTool);
}
const cleanup = () => rmSync(work, { recursive: true, force: true });
process.on('exit', cleanup);

const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');

// ---------- the tree: 10 departments × 10 projects × FILES/100 files of mixed types ----------

const TYPES: { ext: string; make: (seed: number) => Buffer }[] = [
  ...(['docx', 'xlsx', 'pdf', 'csv'] as DecoyType[]).map((t) => ({ ext: t, make: (s: number) => decoyContent(t, s) })),
  { ext: 'jpg', make: (s: number) => decoyContent('jpeg', s) },
  { ext: 'txt', make: (s: number) => Buffer.from(`Meeting notes ${s}\n${'Action items and decisions of the week.\n'.repeat(20 + (s % 60))}`) },
];
const DEPTS = 10;
const PROJECTS = 10;
let original = new Map<string, string>();

function generate(): void {
  rmSync(root, { recursive: true, force: true });
  original = new Map();
  const perDir = Math.ceil(FILES / (DEPTS * PROJECTS));
  let n = 0;
  for (let d = 0; d < DEPTS; d++) {
    for (let p = 0; p < PROJECTS; p++) {
      const dir = join(root, `dept-${d}`, `project-${p}`);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < perDir && n < FILES; i++, n++) {
        const type = TYPES[n % TYPES.length]!;
        const path = join(dir, `file-${String(i).padStart(4, '0')}.${type.ext}`);
        const data = type.make(n + 1);
        writeFileSync(path, data);
        original.set(path, sha1(data));
      }
    }
  }
}

function lost(): number {
  let n = 0;
  for (const [path, hash] of original) {
    try {
      if (sha1(readFileSync(path)) !== hash) n++;
    } catch {
      n++; // renamed away or gone
    }
  }
  return n;
}

// ---------- one run ----------

interface Result {
  name: string;
  filesLost: number;
  killed: boolean;
  /** Simulator's first file → its exit (ms). */
  msToExit: number;
  /** Simulator's first file → the alert (the responder records it after the kill). */
  msToAlert: number | undefined;
  alerts: number;
  rule?: string | undefined;
  exitCode: number | null;
}

async function once(
  name: string,
  o: { protect: boolean; threads: number; skipDecoyNames: boolean; exe?: string; exclude?: boolean },
): Promise<Result> {
  generate();
  let h: Harness | undefined;
  if (o.protect) {
    const exclusions = o.exclude ? [{ id: 'bench-backup', kind: 'path' as const, value: `${bin}/yamori-bench-*`, modules: ['ransomware' as const] }] : [];
    h = await startHarness(native, stateDir, ransomwarePolicy('block', [root, `${root}/*`, `${root}/*/*`], exclusions), { checkIntervalMs: 3_600_000 });
  }
  const args = [SIMULATOR, '--root', root, '--threads', String(o.threads), '--wait', ...(o.skipDecoyNames ? ['--skip-decoy-names'] : [])];
  const child = spawn(o.exe ?? process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let started = NaN;
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready\n')) onReady();
    const m = /start ([\d.]+)/.exec(out);
    if (m) started = Number(m[1]);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.timeOrigin + performance.now() })),
  );
  await ready;
  if (o.exclude && h) {
    // the proc connector's exec event reaches the module within a millisecond or so; wait for it
    const until = Date.now() + 5000;
    while (!h.module.excludedPid(child.pid ?? -1) && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
  }
  child.stdin.write('go\n');
  const end = await exited;
  // give late events of a killed process a moment to reach the module (recorded alerts only)
  await new Promise((r) => setTimeout(r, 50));
  const alert = h?.alerts[0];
  const r: Result = {
    name,
    filesLost: lost(),
    killed: end.signal === 'SIGKILL',
    msToExit: end.at - started,
    msToAlert: alert ? Date.parse(alert['@timestamp']) - started : undefined,
    alerts: h?.alerts.length ?? 0,
    rule: alert?.rule.id,
    exitCode: end.code,
  };
  await h?.stop();
  rmSync(join(stateDir, 'ransomware-decoys.json'), { force: true });
  return r;
}

const fmt = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(1));

console.log(`ransomware bench: ${FILES} files of mixed types (docx, xlsx, pdf, csv, jpg, txt) in ${DEPTS * PROJECTS} folders, simulator with AES-256-CTR`);
const base = await once('unprotected, 1 thread', { protect: false, threads: 1, skipDecoyNames: false });
const baseMt = await once(`unprotected, ${THREADS} threads`, { protect: false, threads: THREADS, skipDecoyNames: false });
const runs = [
  await once('block, 1 thread', { protect: true, threads: 1, skipDecoyNames: false }),
  await once(`block, ${THREADS} threads`, { protect: true, threads: THREADS, skipDecoyNames: false }),
  await once('block, 1 thread, skips decoy names (behaviour only)', { protect: true, threads: 1, skipDecoyNames: true }),
  await once(`block, ${THREADS} threads, skips decoy names (behaviour only)`, { protect: true, threads: THREADS, skipDecoyNames: true }),
];
const backup = await once('backup tool on the exclusion list (same writes, decoys included)', {
  protect: true,
  threads: 1,
  skipDecoyNames: false,
  exe: backupTool,
  exclude: true,
});

console.log('');
console.log('variant                                                     files lost   killed   ms to kill (exit)   ms to alert   rule');
for (const r of [base, baseMt, ...runs, backup]) {
  console.log(
    `${r.name.padEnd(60)} ${String(r.filesLost).padStart(10)}   ${(r.killed ? 'yes' : 'no').padEnd(6)}   ${fmt(r.killed ? r.msToExit : undefined).padStart(17)}   ${fmt(r.msToAlert).padStart(11)}   ${r.rule ?? '-'}`,
  );
}
console.log('');
console.log(`baseline: unprotected, the simulator encrypts all ${base.filesLost} files in ${fmt(base.msToExit)} ms (1 thread), ${fmt(baseMt.msToExit)} ms (${THREADS} threads)`);
for (const r of runs) {
  const b = r.name.includes('threads') ? baseMt : base;
  console.log(
    `${r.name}: ${r.filesLost} of ${FILES} files lost (${((100 * r.filesLost) / FILES).toFixed(2)} % of the unprotected loss), stopped after ${fmt(r.msToExit)} ms = ${((100 * r.msToExit) / b.msToExit).toFixed(1)} % of the unprotected run`,
  );
}
const backupOk = !backup.killed && backup.exitCode === 0 && backup.alerts === 0;
console.log(
  `backup tool on the exclusion list: ${backupOk ? 'NOT stopped' : 'STOPPED (wrong)'} (exit ${backup.exitCode}, ${backup.filesLost} files rewritten, ${backup.alerts} alerts)`,
);
const worstLost = Math.max(...runs.map((r) => r.filesLost));
const worstMs = Math.max(...runs.map((r) => r.msToExit));
console.log(
  JSON.stringify({
    files_total: FILES,
    files_lost: worstLost,
    ms_to_kill: Number(worstMs.toFixed(1)),
    decoy_1t: { files_lost: runs[0]!.filesLost, ms_to_kill: Number(runs[0]!.msToExit.toFixed(1)) },
    decoy_mt: { files_lost: runs[1]!.filesLost, ms_to_kill: Number(runs[1]!.msToExit.toFixed(1)) },
    behaviour_1t: { files_lost: runs[2]!.filesLost, ms_to_kill: Number(runs[2]!.msToExit.toFixed(1)) },
    behaviour_mt: { files_lost: runs[3]!.filesLost, ms_to_kill: Number(runs[3]!.msToExit.toFixed(1)) },
    baseline_ms: Number(base.msToExit.toFixed(1)),
    backup_tool_stopped: !backupOk,
  }),
);
