/**
 * One detonation: `detonate(sampleBytes, job, options) → SandboxReport`, independent of HTTP.
 *
 * Layout of a run (all under a per-run tmpfs on the host, mode 0711, removed afterwards):
 *
 *   base/            tmpfs (trace, seccomp program, synthetic /etc) — root only
 *   base/scratch/    size-limited tmpfs: home/ (decoys, owned by the sample uid), tmp/, sample/
 *
 * Process chain (argument arrays only, nothing interpolated into a shell):
 *
 *   strace -f … -o base/trace                      (root, outside every limit: the trace cannot be touched)
 *     nsenter --net=<sink's netns>                  (loopback only, every address routed to the sinks)
 *       sh -c 'echo $$ > cgroup.procs …; exec "$@"' (joins the job's cgroup)
 *         prlimit --core=0 --fsize … --nofile …     (+ nproc/as when cgroups are missing)
 *           setpriv --reuid/--regid <sample uid> --clear-groups --no-new-privs --bounding-set=-all
 *             bwrap --unshare-user/pid/ipc/uts/cgroup --disable-userns --seccomp 3 … --remount-ro /
 *               /sandbox/sample
 */
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import {
  access,
  chmod,
  chown,
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SandboxJob, SandboxReport } from '@yamori/protocol';
import { classifySample } from './sample-kind.ts';
import { decoyFiles } from './decoys.ts';
import { shannonEntropy } from './entropy.ts';
import { createLimits, type LimitSpec, type Limits } from './limits.ts';
import { buildSeccompFilter } from './seccomp.ts';
import { analyzeTrace, parseStrace } from './strace-parse.ts';
import { buildReport, emptyReport } from './report.ts';
import type { FileChange, SinkEvent } from './score.ts';

export interface DetonateOptions {
  /** Upper bound on the wall clock; the job's timeoutS is honoured when smaller. Default 120 s. */
  maxWallClockS?: number;
  limits?: Partial<LimitSpec>;
  /** Size of the scratch tmpfs (home + /tmp). Default 64 MiB. */
  scratchBytes?: number;
  sampleUid?: number;
  sampleGid?: number;
  /** The sinks run as this uid, distinct from the sample's. */
  sinkUid?: number;
  sinkGid?: number;
  workDir?: string;
  /** `auto` (default): bubblewrap where installed, `unshare` + pivot_root otherwise. */
  launcher?: 'auto' | 'bwrap' | 'unshare';
  hostname?: string;
  userName?: string;
  log?: (msg: string) => void;
  /** Copy the raw strace output here (for analysts and for recording parser fixtures). */
  keepTraceAt?: string;
}

export interface DetonationEnvironment {
  isolation: string[];
  /** What could not be put in place on this host, and why. */
  refused: string[];
  limits: Limits['kind'] | 'none';
}

export interface DetonationDetails {
  report: SandboxReport;
  environment: DetonationEnvironment;
  stdout: string;
  stderr: string;
  traceBytes: number;
}

export const SAMPLE_PATH = '/sandbox/sample';
const RESOLVER = '127.0.0.1';
const TRACE_SET = [
  'execve',
  'execveat',
  'clone',
  'clone3',
  'fork',
  'vfork',
  'open',
  'openat',
  'openat2',
  'creat',
  'unlink',
  'unlinkat',
  'rmdir',
  'rename',
  'renameat',
  'renameat2',
  'link',
  'linkat',
  'symlink',
  'symlinkat',
  'chmod',
  'fchmod',
  'fchmodat',
  'connect',
  'sendto',
  'sendmsg',
  'setuid',
  'setgid',
  'setreuid',
  'setregid',
  'setresuid',
  'setresgid',
  'setfsuid',
  'setfsgid',
  'setgroups',
  'capset',
  'ptrace',
];
/**
 * PID 1 of the sandbox: runs the sample and reaps every process until none is left, so a
 * sample that daemonizes and exits is still watched until its descendants end (or the wall
 * clock). bwrap's own init stops at the main child's exit, which would kill them at once.
 */
const INIT_SCRIPT =
  'my $p = fork(); exit 126 unless defined $p; if ($p == 0) { exec { $ARGV[0] } @ARGV; exit 127 } ' +
  'my $rc = 0; while ((my $w = wait()) != -1) { $rc = $? if $w == $p } exit($rc & 127 ? 128 + ($rc & 127) : $rc >> 8);';
/**
 * Fallback when bubblewrap is missing: runs as root inside `unshare --pid --mount …`, builds
 * the same read-only root on a tmpfs, pivots into it, detaches the old root, then execs the
 * rest ("$@": setpriv … env -i … sample). Everything variable arrives as a positional argument.
 */
const UNSHARE_SETUP = [
  'set -eu',
  'R=$1 H=$2 T=$3 S=$4 E=$5 HOMEDIR=$6 HN=$7 PIVOT=$8; shift 8; [ "$1" = -- ] && shift',
  'mount -t tmpfs -o mode=0755,nosuid,nodev,size=16m yamori-root "$R"',
  'ro() { mount --bind "$1" "$2"; mount -o remount,bind,ro,nosuid,nodev "$2"; }',
  'mkdir -p "$R/usr" "$R/etc" "$R/proc" "$R/dev" "$R/tmp" "$R/sandbox" "$R/home" "$R$HOMEDIR" "$R/var" "$R/run" "$R/.old"',
  'ro /usr "$R/usr"',
  'for d in bin sbin lib lib32 lib64 libx32; do',
  '  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$R/$d"; elif [ -d "/$d" ]; then mkdir "$R/$d"; ro "/$d" "$R/$d"; fi',
  'done',
  'for f in "$E"/*; do n=${f##*/}; : > "$R/etc/$n"; ro "$f" "$R/etc/$n"; done',
  'for n in ld.so.cache ld.so.conf localtime; do if [ -f "/etc/$n" ]; then : > "$R/etc/$n"; ro "/etc/$n" "$R/etc/$n"; fi; done',
  'for n in ld.so.conf.d alternatives; do if [ -d "/etc/$n" ]; then mkdir "$R/etc/$n"; ro "/etc/$n" "$R/etc/$n"; fi; done',
  'for n in null zero full random urandom tty; do : > "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done',
  'ln -s /proc/self/fd "$R/dev/fd"; ln -s /proc/self/fd/0 "$R/dev/stdin"; ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"',
  'mount --bind "$H" "$R$HOMEDIR"; mount --bind "$T" "$R/tmp"; ro "$S" "$R/sandbox"; ln -s ../tmp "$R/var/tmp"',
  'mount -t proc -o nosuid,nodev,noexec proc "$R/proc"',
  'printf "%s" "$HN" > /proc/sys/kernel/hostname',
  'mount -o remount,bind,ro "$R"',
  'cd "$R"; "$PIVOT" . .old; cd /; umount -l /.old',
  'cd "$HOMEDIR"',
  'exec "$@"',
].join('\n');

const MAX_TRACE_BYTES = 64 * 1024 * 1024;
const MAX_OUTPUT = 64 * 1024;

export async function detonate(
  sample: Uint8Array,
  job: SandboxJob,
  options: DetonateOptions = {},
): Promise<SandboxReport> {
  return (await detonateDetailed(sample, job, options)).report;
}

export async function detonateDetailed(
  sample: Uint8Array,
  job: SandboxJob,
  options: DetonateOptions = {},
): Promise<DetonationDetails> {
  const env: DetonationEnvironment = { isolation: [], refused: [], limits: 'none' };
  const started = performance.now();
  const done = (report: SandboxReport, extra: Partial<DetonationDetails> = {}): DetonationDetails => ({
    report,
    environment: env,
    stdout: '',
    stderr: '',
    traceBytes: 0,
    ...extra,
  });
  const cls = classifySample(sample);
  if (!cls.ok) return done(emptyReport('refused', cls.reason));

  const tools = await findTools([
    'strace',
    'bwrap',
    'nsenter',
    'unshare',
    'ip',
    'setpriv',
    'prlimit',
    'mount',
    'umount',
    'pivot_root',
  ]);
  const launcher =
    options.launcher === 'unshare' || (options.launcher !== 'bwrap' && tools['bwrap'] === null)
      ? 'unshare'
      : 'bwrap';
  const needed = ['strace', 'nsenter', 'unshare', 'ip', 'setpriv', 'prlimit', 'mount', 'umount'];
  needed.push(launcher === 'bwrap' ? 'bwrap' : 'pivot_root');
  const missing = needed.filter((n) => tools[n] === null);
  if (missing.length > 0) {
    const hint =
      missing.includes('bwrap') || missing.includes('strace')
        ? ' (bash scripts/apt-ensure.sh bubblewrap strace)'
        : '';
    return done(emptyReport('error', `sandbox tools missing: ${missing.join(', ')}${hint}`));
  }
  if (process.getuid?.() !== 0)
    return done(
      emptyReport(
        'error',
        'the detonation worker must run as root (it builds namespaces, cgroups and tmpfs mounts, then drops to an unprivileged uid)',
      ),
    );
  const t = tools as Record<string, string>;

  const o = {
    wallClockS: Math.max(1, Math.min(job.timeoutS, options.maxWallClockS ?? 120)),
    limits: { memoryBytes: 256 * 1024 * 1024, pids: 64, cpuPercent: 50, ...options.limits },
    scratchBytes: options.scratchBytes ?? 64 * 1024 * 1024,
    sampleUid: options.sampleUid ?? 65534,
    sampleGid: options.sampleGid ?? 65534,
    sinkUid: options.sinkUid ?? 65533,
    sinkGid: options.sinkGid ?? 65533,
    hostname: options.hostname ?? 'ws-0231',
    user: options.userName ?? 'alice',
    log: options.log ?? (() => undefined),
  };
  const home = `/home/${o.user}`;

  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    // ---- filesystem
    const workDir = options.workDir ?? tmpdir();
    const blocked = await untraversable(workDir);
    if (blocked)
      return done(
        emptyReport(
          'error',
          `${blocked} is not searchable by others (o+x): bwrap, running as the sample uid, could not reach the scratch area under ${workDir}`,
        ),
      );
    // The worker's pid in the name lets sweepStaleRuns() tell a dead worker's leftovers from a live run.
    const base = await mkdtemp(join(workDir, `yamori-sandbox-${process.pid}-`));
    cleanups.push(() => rm(base, { recursive: true, force: true }));
    if (
      (
        await run(t['mount'] ?? 'mount', [
          '-t',
          'tmpfs',
          '-o',
          'size=256m,mode=0711,nosuid,nodev',
          'yamori-sandbox',
          base,
        ])
      ).code === 0
    ) {
      cleanups.push(() => run(t['umount'] ?? 'umount', ['-l', base]));
    } else env.refused.push('could not mount the per-run tmpfs: trace and scratch share the host /tmp');
    await chmod(base, 0o711);
    const scratch = join(base, 'scratch');
    await mkdir(scratch, { mode: 0o755 });
    if (
      (
        await run(t['mount'] ?? 'mount', [
          '-t',
          'tmpfs',
          '-o',
          `size=${o.scratchBytes},nr_inodes=16384,mode=0755,nosuid,nodev`,
          'yamori-scratch',
          scratch,
        ])
      ).code === 0
    ) {
      cleanups.push(() => run(t['umount'] ?? 'umount', ['-l', scratch]));
      env.isolation.push(`scratch home and /tmp on a ${Math.round(o.scratchBytes / 1048576)} MiB tmpfs`);
    } else env.refused.push('scratch tmpfs mount failed: the scratch area is not size-limited');
    const hostHome = join(scratch, 'home');
    const hostTmp = join(scratch, 'tmp');
    const hostSampleDir = join(scratch, 'sample');
    await mkdir(hostHome, { mode: 0o700 });
    await mkdir(hostTmp, { mode: 0o700 });
    await mkdir(hostSampleDir, { mode: 0o755 });
    await writeFile(join(hostSampleDir, 'sample'), sample, { mode: 0o555 });
    const decoys = decoyFiles();
    for (const d of decoys) {
      const p = join(hostHome, d.path);
      await mkdir(join(p, '..'), { recursive: true, mode: 0o700 });
      await writeFile(p, d.content, { mode: 0o600 });
    }
    await chownTree(hostHome, o.sampleUid, o.sampleGid);
    await chown(hostTmp, o.sampleUid, o.sampleGid);
    const areas = [
      { host: hostHome, inside: home },
      { host: hostTmp, inside: '/tmp' },
    ];
    const before = await snapshot(areas);

    const etc = join(base, 'etc');
    await mkdir(etc, { mode: 0o755 });
    const etcFiles: Record<string, string> = {
      passwd: `root:x:0:0:root:/root:/bin/bash\n${o.user}:x:${o.sampleUid}:${o.sampleGid}:${o.user}:${home}:/bin/bash\n`,
      group: `root:x:0:\n${o.user}:x:${o.sampleGid}:\n`,
      hosts: `127.0.0.1\tlocalhost\n127.0.1.1\t${o.hostname}\n::1\tlocalhost ip6-localhost\n`,
      'resolv.conf': `nameserver ${RESOLVER}\noptions timeout:1 attempts:1\n`,
      'nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
      hostname: `${o.hostname}\n`,
    };
    for (const [name, text] of Object.entries(etcFiles))
      await writeFile(join(etc, name), text, { mode: 0o644 });

    // ---- network namespace with the sinks
    const sink = await startSink(t, o.sinkUid, o.sinkGid);
    cleanups.push(() => sink.stop());
    env.isolation.push(
      'network namespace with loopback only; every address routed to in-namespace DNS/HTTP/TLS sinks',
    );
    if (sink.ipv6Refused)
      env.refused.push(
        'IPv6 catch-all route refused in the sandbox netns (IPv6 connects fail instead of reaching a sink)',
      );

    // ---- limits
    const limits = await createLimits(job.id, o.limits);
    cleanups.push(() => limits.remove());
    env.limits = limits.kind;
    env.isolation.push(
      limits.kind === 'rlimit'
        ? `rlimits: nproc ${o.limits.pids}, address space ${o.limits.memoryBytes} bytes`
        : `${limits.kind}: pids ${o.limits.pids}, memory ${Math.round(o.limits.memoryBytes / 1048576)} MiB, cpu ${o.limits.cpuPercent}%`,
    );
    if (limits.note) env.refused.push(limits.note);

    // ---- seccomp
    const filter = launcher === 'bwrap' ? buildSeccompFilter() : null;
    let seccompFd: number | null = null;
    if (filter) {
      const f = join(base, 'seccomp.bpf');
      await writeFile(f, filter, { mode: 0o600 });
      const fh = await open(f, 'r');
      cleanups.push(() => fh.close());
      seccompFd = fh.fd;
      env.isolation.push(
        'seccomp deny-list (module/kexec/bpf/perf/userfaultfd/keyring/io_uring/mount/namespace calls → EPERM, x32 denied, foreign ABIs killed)',
      );
    } else if (launcher === 'bwrap') env.refused.push(`no seccomp syscall table for ${process.arch}`);
    else
      env.refused.push(
        'bubblewrap not installed: unshare + pivot_root instead, without seccomp and without disabling nested user namespaces',
      );

    // ---- the chain
    const init = await access('/usr/bin/perl', constants.X_OK).then(
      () => '/usr/bin/perl',
      () => null,
    );
    if (!init)
      env.refused.push('no /usr/bin/perl for the in-sandbox init: the run ends when the main process exits');
    const trace = join(base, 'trace');
    const sandboxCmd = init ? [init, '-e', INIT_SCRIPT, SAMPLE_PATH] : [SAMPLE_PATH];
    const dropPrivs = [
      '--reuid',
      String(o.sampleUid),
      '--regid',
      String(o.sampleGid),
      '--clear-groups',
      '--no-new-privs',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--',
    ];
    let inner: string[];
    if (launcher === 'bwrap') {
      const bwrap = await bwrapArgs({
        sampleUid: o.sampleUid,
        sampleGid: o.sampleGid,
        hostname: o.hostname,
        home,
        user: o.user,
        hostHome,
        hostTmp,
        hostSampleDir,
        etc,
        etcFiles: Object.keys(etcFiles),
        seccompFd: seccompFd === null ? null : 3,
      });
      env.isolation.push(
        `bubblewrap: user, pid, ipc, uts, cgroup namespaces; read-only root from /usr; uid ${o.sampleUid}; no capabilities; no_new_privs; no nested user namespaces`,
      );
      inner = [
        t['setpriv'] ?? 'setpriv',
        ...dropPrivs,
        t['bwrap'] ?? 'bwrap',
        ...bwrap,
        ...(init ? ['--as-pid-1'] : []),
        '--',
        ...sandboxCmd,
      ];
    } else {
      const newRoot = join(base, 'root');
      await mkdir(newRoot, { mode: 0o755 });
      env.isolation.push(
        `unshare: pid, mount, ipc, uts, cgroup namespaces; pivot_root into a read-only root from /usr; uid ${o.sampleUid}; no capabilities; no_new_privs`,
      );
      inner = [
        t['unshare'] ?? 'unshare',
        '--pid',
        '--fork',
        '--kill-child',
        '--mount',
        '--propagation',
        'private',
        '--ipc',
        '--uts',
        '--cgroup',
        '--',
        '/bin/sh',
        '-c',
        UNSHARE_SETUP,
        'sh',
        newRoot,
        hostHome,
        hostTmp,
        hostSampleDir,
        etc,
        home,
        o.hostname,
        t['pivot_root'] ?? 'pivot_root',
        '--',
        '/usr/bin/setpriv',
        ...dropPrivs,
        '/usr/bin/env',
        '-i',
        `HOME=${home}`,
        `USER=${o.user}`,
        `LOGNAME=${o.user}`,
        'PATH=/usr/local/bin:/usr/bin:/bin',
        'SHELL=/bin/bash',
        'LANG=C.UTF-8',
        'TERM=xterm',
        ...sandboxCmd,
      ];
    }
    const argv = [
      '-f',
      '-ttt',
      '-q',
      '-y',
      '--pidns-translation',
      '--seccomp-bpf',
      '-s',
      '256',
      '-e',
      `trace=${TRACE_SET.join(',')}`,
      '-o',
      trace,
      '--',
      t['nsenter'] ?? 'nsenter',
      `--net=/proc/${sink.pid}/ns/net`,
      '--',
      '/bin/sh',
      '-c',
      'while [ "$#" -gt 0 ] && [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"',
      'sh',
      ...limits.procFiles,
      '--',
      t['prlimit'] ?? 'prlimit',
      '--core=0',
      `--fsize=${o.scratchBytes}`,
      '--nofile=1024',
      `--cpu=${o.wallClockS + 5}`,
      ...limits.prlimitArgs,
      '--',
      ...inner,
    ];
    o.log(`detonating ${job.sha256} (${cls.kind}) for at most ${o.wallClockS}s`);
    const t0 = performance.now();
    const child = spawn(t['strace'] ?? 'strace', argv, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', ...(seccompFd === null ? [] : [seccompFd])],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
    });
    const stdout = capture(child.stdout as NodeJS.ReadableStream);
    const stderr = capture(child.stderr as NodeJS.ReadableStream);
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    let wallClockHit = false;
    const killTree = async (): Promise<void> => {
      await limits.killAll();
      if (child.pid !== undefined) await killDescendants(child.pid);
    };
    const timer = setTimeout(() => {
      wallClockHit = true;
      void killTree();
    }, o.wallClockS * 1000);
    await closed.then(() => undefined);
    clearTimeout(timer);
    const elapsed = performance.now() - t0;
    // Whatever outlived the sample's tree (a detached daemon) dies with the cgroup.
    await killTree();
    await hardStop(child.pid, closed);

    // ---- observations
    const traceText = await readCapped(trace, MAX_TRACE_BYTES);
    if (options.keepTraceAt) await copyFile(trace, options.keepTraceAt);
    const behaviour = analyzeTrace(parseStrace(traceText.text), { rootExecutable: SAMPLE_PATH });
    const sinks = await sink.stop();
    const after = await snapshot(areas);
    const decoyPaths = new Set(decoys.map((d) => `${home}/${d.path}`));
    const changes = diff(before, after, decoyPaths);
    const pidsLimitHit = await limits.pidsLimitHit();
    const memoryLimitHit = await limits.memoryLimitHit();
    const root = behaviour.processes.find((p) => p.pid === behaviour.rootPid);
    let status: SandboxReport['status'];
    let reason: string | undefined;
    if (behaviour.rootPid === null) {
      status = wallClockHit ? 'timeout' : 'error';
      reason = `the sample never started: ${lastLines(stderr.text(), 3) || 'no output'}`;
    } else if (wallClockHit) {
      status = 'timeout';
      reason = `wall-clock limit of ${o.wallClockS}s reached: the sandbox was killed`;
    } else if (root?.signal) {
      status = 'crashed';
      reason = `killed by ${root.signal}${root.coreDumped ? ' (core dumped)' : ''}${memoryLimitHit ? ' (memory limit reached)' : ''}`;
    } else status = 'completed';
    if (pidsLimitHit || behaviour.forkFailures > 0) {
      reason = `${reason ? `${reason}; ` : ''}process limit (${o.limits.pids}) reached, ${behaviour.forkFailures} fork/clone calls refused`;
    }
    if (traceText.truncated)
      reason = `${reason ? `${reason}; ` : ''}trace truncated at ${MAX_TRACE_BYTES} bytes`;
    const domains = new Map<string, string>();
    for (const s of sinks) if (s.kind === 'dns' && s.ip) domains.set(s.ip, s.domain);
    const report = buildReport({
      status,
      ...(reason ? { reason } : {}),
      durationMs: elapsed,
      behaviour,
      sinks,
      changes,
      limits: { pidsLimitHit, memoryLimitHit, wallClockHit, fallback: limits.note },
      env: { home, samplePath: SAMPLE_PATH, resolver: RESOLVER, hostname: o.hostname },
      domainFor: (ip) => domains.get(ip) ?? null,
    });
    o.log(
      `${job.sha256}: ${report.status} ${report.verdict} ${report.score} in ${Math.round(performance.now() - started)} ms`,
    );
    return done(report, { stdout: stdout.text(), stderr: stderr.text(), traceBytes: traceText.size });
  } catch (e) {
    return done(
      emptyReport(
        'error',
        `detonation failed: ${(e as Error).message}`,
        Math.round(performance.now() - started),
      ),
    );
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

/**
 * Unmounts and removes the run directories of workers that died mid-run (their pid is in the
 * directory name and no longer alive). Runs of live workers sharing `workDir` are left alone.
 */
export async function sweepStaleRuns(workDir: string = tmpdir()): Promise<string[]> {
  const swept: string[] = [];
  const entries = await readdir(workDir).catch(() => [] as string[]);
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  for (const e of entries) {
    const m = /^yamori-sandbox-(\d+)-[A-Za-z0-9]+$/.exec(e);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (alive) continue;
    const dir = join(workDir, e);
    const mounts = mountinfo
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((mp) => mp === dir || mp.startsWith(`${dir}/`))
      .sort((a, b) => b.length - a.length);
    for (const mp of mounts) await run('umount', ['-l', mp]);
    await rm(dir, { recursive: true, force: true });
    swept.push(dir);
  }
  return swept;
}

// -------------------------------------------------------------------------------------------

interface BwrapPlan {
  sampleUid: number;
  sampleGid: number;
  hostname: string;
  home: string;
  user: string;
  hostHome: string;
  hostTmp: string;
  hostSampleDir: string;
  etc: string;
  etcFiles: string[];
  seccompFd: number | null;
}

/** bwrap arguments: a fresh read-only root made of /usr (+ the merged-usr links), synthetic /etc, scratch home and /tmp. */
export async function bwrapArgs(p: BwrapPlan): Promise<string[]> {
  const a = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--disable-userns',
    '--uid',
    String(p.sampleUid),
    '--gid',
    String(p.sampleGid),
    '--hostname',
    p.hostname,
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--ro-bind',
    '/usr',
    '/usr',
  ];
  for (const top of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const st = await lstat(`/${top}`).catch(() => null);
    if (!st) continue;
    if (st.isSymbolicLink()) a.push('--symlink', await readlink(`/${top}`), `/${top}`);
    else if (st.isDirectory()) a.push('--ro-bind', `/${top}`, `/${top}`);
  }
  a.push('--dir', '/etc');
  for (const f of p.etcFiles) a.push('--ro-bind', join(p.etc, f), `/etc/${f}`);
  for (const f of ['ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'alternatives', 'localtime'])
    a.push('--ro-bind-try', `/etc/${f}`, `/etc/${f}`);
  a.push(
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--dir',
    '/home',
    '--bind',
    p.hostHome,
    p.home,
    '--bind',
    p.hostTmp,
    '/tmp',
    '--dir',
    '/var',
    '--symlink',
    '../tmp',
    '/var/tmp',
    '--dir',
    '/run',
    '--ro-bind',
    p.hostSampleDir,
    '/sandbox',
    '--chdir',
    p.home,
    '--clearenv',
    '--setenv',
    'HOME',
    p.home,
    '--setenv',
    'USER',
    p.user,
    '--setenv',
    'LOGNAME',
    p.user,
    '--setenv',
    'PATH',
    '/usr/local/bin:/usr/bin:/bin',
    '--setenv',
    'SHELL',
    '/bin/bash',
    '--setenv',
    'LANG',
    'C.UTF-8',
    '--setenv',
    'TERM',
    'xterm',
  );
  if (p.seccompFd !== null) a.push('--seccomp', String(p.seccompFd));
  a.push('--remount-ro', '/');
  return a;
}

/** The first directory on the way to `dir` that others cannot search, or null. */
async function untraversable(dir: string): Promise<string | null> {
  let cur = '';
  for (const part of dir.split('/').filter((x) => x !== '')) {
    cur += `/${part}`;
    const st = await lstat(cur).catch(() => null);
    if (st && st.isDirectory() && (st.mode & 0o001) === 0) return cur;
  }
  return null;
}

async function findTools(names: string[]): Promise<Record<string, string | null>> {
  const dirs = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  const out: Record<string, string | null> = {};
  for (const n of names) {
    out[n] = null;
    for (const d of dirs) {
      const p = `${d}/${n}`;
      if (
        await access(p, constants.X_OK).then(
          () => true,
          () => false,
        )
      ) {
        out[n] = p;
        break;
      }
    }
  }
  return out;
}

function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, _stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? Number((err as { code?: unknown }).code)
          : 1
        : 0;
      resolve({ code, stderr: String(stderr) });
    });
  });
}

interface Sink {
  pid: number;
  ipv6Refused: boolean;
  /** Stops the sink (idempotent) and returns what it recorded. */
  stop(): Promise<SinkEvent[]>;
}

async function startSink(t: Record<string, string>, uid: number, gid: number): Promise<Sink> {
  const script = fileURLToPath(new URL('./net-sink.ts', import.meta.url));
  const proc = spawn(
    t['unshare'] ?? 'unshare',
    ['--net', '--', process.execPath, '--no-warnings', script, '--uid', String(uid), '--gid', String(gid)],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const events: SinkEvent[] = [];
  let buf = '';
  let resolveReady: (ok: boolean) => void = () => undefined;
  const ready = new Promise<boolean>((r) => (resolveReady = r));
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const rec = JSON.parse(line) as { kind?: string };
        if (rec.kind === 'ready') resolveReady(true);
        else if (
          (rec.kind === 'dns' || rec.kind === 'http' || rec.kind === 'tls' || rec.kind === 'connect') &&
          events.length < 4096
        )
          events.push(rec as SinkEvent);
      } catch {
        // not ours
      }
    }
  });
  const errText = capture(proc.stderr);
  const exited = new Promise<void>((r) => proc.once('close', () => r()));
  void exited.then(() => resolveReady(false));
  const timeout = setTimeout(() => resolveReady(false), 15_000);
  const ok = await ready;
  clearTimeout(timeout);
  let stopped: Promise<SinkEvent[]> | null = null;
  const stop = (): Promise<SinkEvent[]> => {
    stopped ??= (async () => {
      proc.stdin.end();
      proc.kill('SIGTERM');
      const t1 = setTimeout(() => proc.kill('SIGKILL'), 1000);
      await exited;
      clearTimeout(t1);
      return events;
    })();
    return stopped;
  };
  if (!ok || proc.pid === undefined) {
    await stop();
    throw new Error(`network sink did not start: ${lastLines(errText.text(), 3)}`);
  }
  const ns = `--net=/proc/${proc.pid}/ns/net`;
  const nsenter = t['nsenter'] ?? 'nsenter';
  const ip = t['ip'] ?? 'ip';
  for (const args of [
    ['link', 'set', 'lo', 'up'],
    ['route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo'],
  ]) {
    const r = await run(nsenter, [ns, '--', ip, ...args]);
    if (r.code !== 0) {
      await stop();
      throw new Error(`configuring the sandbox netns (ip ${args.join(' ')}) failed: ${r.stderr.trim()}`);
    }
  }
  const v6 = await run(nsenter, [ns, '--', ip, '-6', 'route', 'add', 'local', '::/0', 'dev', 'lo']);
  return { pid: proc.pid, ipv6Refused: v6.code !== 0, stop };
}

function capture(stream: NodeJS.ReadableStream): { text(): string } {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (c: Buffer) => {
    if (size >= MAX_OUTPUT) return;
    chunks.push(c);
    size += c.length;
  });
  return { text: () => Buffer.concat(chunks).subarray(0, MAX_OUTPUT).toString('utf8') };
}

function lastLines(s: string, n: number): string {
  return s.trim().split('\n').slice(-n).join(' | ').slice(0, 1000);
}

async function childrenOf(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const out: number[] = [];
  for (const t of tasks) {
    const text = await readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '');
    for (const c of text.trim().split(/\s+/)) if (/^\d+$/.test(c)) out.push(Number(c));
  }
  return out;
}

/** SIGKILLs every descendant of `pid` (not `pid` itself: strace must live to flush the trace). */
async function killDescendants(pid: number): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const seen: number[] = [];
    const stack = await childrenOf(pid);
    while (stack.length > 0 && seen.length < 10_000) {
      const p = stack.pop() ?? 0;
      seen.push(p);
      stack.push(...(await childrenOf(p)));
    }
    if (seen.length === 0) return;
    for (const p of seen) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(25);
  }
}

async function hardStop(pid: number | undefined, closed: Promise<void>): Promise<void> {
  const waited = await Promise.race([closed.then(() => true), sleep(3000).then(() => false)]);
  if (waited || pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone
  }
  await Promise.race([closed, sleep(2000)]);
}

async function readCapped(
  file: string,
  max: number,
): Promise<{ text: string; size: number; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let total = 0;
  try {
    for await (const c of createReadStream(file)) {
      const b = c as Buffer;
      total += b.length;
      if (size >= max) continue;
      chunks.push(b.subarray(0, max - size));
      size += Math.min(b.length, max - size);
    }
  } catch {
    return { text: '', size: 0, truncated: false };
  }
  return { text: Buffer.concat(chunks).toString('utf8'), size: total, truncated: total > max };
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await chown(p, uid, gid);
  }
}

interface FileState {
  sha256: string;
  entropy: number;
  size: number;
  executable: boolean;
}

/** Regular files of the scratch areas, by the path the sample sees. Symlinks are not followed. */
async function snapshot(areas: { host: string; inside: string }[]): Promise<Map<string, FileState>> {
  const out = new Map<string, FileState>();
  const walk = async (host: string, inside: string, depth: number): Promise<void> => {
    if (depth > 16 || out.size >= 4000) return;
    const entries = await readdir(host, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const h = join(host, e.name);
      const i = `${inside}/${e.name}`;
      if (e.isDirectory()) await walk(h, i, depth + 1);
      else if (e.isFile()) {
        const bytes = await readHead(h, 16 * 1024 * 1024);
        out.set(i, {
          sha256: createHash('sha256').update(bytes).digest('hex'),
          entropy: shannonEntropy(bytes),
          size: bytes.length,
          executable:
            (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) ||
            (bytes[0] === 0x23 && bytes[1] === 0x21),
        });
      }
    }
  };
  for (const a of areas) await walk(a.host, a.inside, 0);
  return out;
}

async function readHead(file: string, max: number): Promise<Buffer> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => null);
  if (!fh) return Buffer.alloc(0);
  try {
    const buf = Buffer.alloc(Math.min(max, (await fh.stat()).size));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function diff(
  before: Map<string, FileState>,
  after: Map<string, FileState>,
  decoys: Set<string>,
): FileChange[] {
  const out: FileChange[] = [];
  for (const [path, a] of after) {
    const b = before.get(path);
    if (b && b.sha256 === a.sha256) continue;
    out.push({
      path,
      state: b ? 'modified' : 'created',
      decoy: decoys.has(path),
      sizeAfter: a.size,
      entropyBefore: b?.entropy ?? null,
      entropyAfter: a.entropy,
      sha256After: a.sha256,
      executable: a.executable,
    });
  }
  for (const [path, b] of before) {
    if (after.has(path)) continue;
    out.push({
      path,
      state: 'deleted',
      decoy: decoys.has(path),
      sizeAfter: null,
      entropyBefore: b.entropy,
      entropyAfter: null,
      sha256After: null,
      executable: false,
    });
  }
  return out;
}
