/**
 * Done-when tests for the detonation: real namespaces, cgroups, strace and sinks (root only).
 * Each run is kept short (a few seconds of wall clock); nothing here asserts on speed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SandboxReport, parseWith, type SandboxJob } from '@yamori/protocol';
import { detonateDetailed, sweepStaleRuns, type DetonateOptions } from './detonate.ts';
import { createWorker } from './worker.ts';

const isRoot = process.getuid?.() === 0;
let skip: string | false = isRoot ? false : 'needs root (namespaces, cgroups, tmpfs)';
const work = mkdtempSync(join(tmpdir(), 'yamori-sandbox-test-'));
const runDir = mkdtempSync(join(tmpdir(), 'yamori-sandbox-runs-'));
chmodSync(runDir, 0o711); // the sample uid must be able to reach its scratch bind mounts
const options: DetonateOptions = { maxWallClockS: 6, workDir: runDir };
const jobIds: string[] = [];

function job(bytes: Uint8Array, timeoutS = 6): SandboxJob {
  const id = `test-${process.pid}-${jobIds.length}`;
  jobIds.push(id);
  return {
    id,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    fileName: null,
    kind: 'elf',
    timeoutS,
  };
}

function script(name: string, text: string): Buffer {
  const p = join(work, name);
  writeFileSync(p, text, { mode: 0o755 });
  return readFileSync(p);
}

/**
 * Host processes still running as the sandbox uid in one of this file's job cgroups (there must be
 * none after a run). Other test files detonate samples at the same time (the agent e2e suite
 * through the server's sandbox worker); their processes sit in their own jobs' cgroups.
 */
function sandboxUidProcesses(): string[] {
  const ours = `/yamori-sandbox/test-${process.pid}-`;
  const left: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      if (/^Uid:\s+65534\b/m.test(status) && !/^State:\s+Z/m.test(status) && cgroup.includes(ours))
        left.push(`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')}`);
    } catch {
      // exited meanwhile
    }
  }
  return left;
}

before(() => {
  if (skip) return;
  try {
    execFileSync('bash', ['scripts/apt-ensure.sh', 'bubblewrap', 'strace', 'gcc'], {
      cwd: new URL('../../..', import.meta.url),
      stdio: 'inherit',
    });
  } catch (e) {
    // In CI the tools must install: a skip there would hide a broken sandbox.
    if (process.env['CI']) throw e;
    skip = `sandbox tools unavailable: ${(e as Error).message}`;
  }
});

after(() => {
  rmSync(work, { recursive: true, force: true });
  // Every run removes its cgroups, mounts and scratch; check, then clean up regardless.
  const leftovers = existsSync(runDir) ? readdirSync(runDir) : [];
  rmSync(runDir, { recursive: true, force: true });
  const cgroups = [
    '/sys/fs/cgroup/yamori-sandbox',
    '/sys/fs/cgroup/pids/yamori-sandbox',
    '/sys/fs/cgroup/memory/yamori-sandbox',
    '/sys/fs/cgroup/cpu/yamori-sandbox',
    '/sys/fs/cgroup/unified/yamori-sandbox',
  ];
  const stale = cgroups.flatMap((c) =>
    jobIds.filter((id) => existsSync(join(c, id))).map((id) => join(c, id)),
  );
  for (const s of stale) rmSync(s, { recursive: false, force: true });
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes(runDir));
  assert.deepEqual({ leftovers, stale, mounts }, { leftovers: [], stale: [], mounts: [] });
});

void test('test malware (cron + C2 + encryption) is scored malicious; its domain is an indicator', async (t) => {
  if (skip) return t.skip(skip);
  const bin = join(work, 'evil');
  execFileSync('gcc', ['-O1', '-o', bin, new URL('./fixtures/evil.c', import.meta.url).pathname]);
  const bytes = readFileSync(bin);
  const started = performance.now();
  const { report, environment } = await detonateDetailed(bytes, job(bytes), options);
  t.diagnostic(
    `detonation of the test program: ${Math.round(performance.now() - started)} ms (sample ran ${report.durationMs} ms)`,
  );
  t.diagnostic(
    `isolation: ${environment.isolation.join(' | ')}; refused: ${environment.refused.join(' | ') || 'nothing'}`,
  );
  parseWith(SandboxReport, report, 'report');
  assert.equal(report.status, 'completed', report.reason);
  assert.equal(report.verdict, 'malicious');
  const ids = report.signatures.map((s) => s.id);
  for (const id of [
    'persistence.cron',
    'network.dns',
    'network.connect',
    'network.http',
    'ransomware.bulk-encrypt',
  ])
    assert.ok(ids.includes(id), `${id} in ${ids.join(', ')}`);
  assert.ok(report.indicators.some((i) => i.type === 'domain' && i.value === 'c2.evil-test.example'));
  assert.ok(
    report.indicators.some(
      (i) => i.type === 'url' && i.value === 'http://c2.evil-test.example/gate.php?id=42',
    ),
  );
  assert.ok(
    report.network.some((n) => n.kind === 'connect' && n.port === 443 && n.domain === 'c2.evil-test.example'),
  );
  assert.ok(
    report.files.some(
      (f) => f.op === 'write' && f.path === '/home/alice/Documents/payroll-2026.csv' && f.sha256,
    ),
  );
  const stage2 = createHash('sha256')
    .update('#!/bin/sh\n# yamori sandbox test stage 2\necho stage2 > /dev/null\n')
    .digest('hex');
  assert.ok(
    report.indicators.some((i) => i.type === 'sha256' && i.value === stage2),
    'dropped stage 2 hash',
  );
  assert.ok(ids.includes('execution.dropped-executable') && ids.includes('execution.run-dropped'));
  assert.ok(report.processes.some((p) => p.executable === '/tmp/.cache-update'));
  assert.deepEqual(sandboxUidProcesses(), []);
});

void test('a benign program (ls) is scored benign', async (t) => {
  if (skip) return t.skip(skip);
  const bin = join(work, 'ls');
  copyFileSync('/usr/bin/ls', bin);
  const bytes = readFileSync(bin);
  const { report, stdout } = await detonateDetailed(bytes, job(bytes), options);
  parseWith(SandboxReport, report, 'report');
  assert.equal(report.status, 'completed', report.reason);
  assert.equal(report.verdict, 'benign', JSON.stringify(report.signatures));
  assert.equal(report.score, 0);
  assert.match(stdout, /Documents/, 'ls saw the decoy home');
  assert.deepEqual(report.indicators, []);
});

void test('a fork bomb ends at the wall clock with the pids limit reported, and leaves nothing behind', async (t) => {
  if (skip) return t.skip(skip);
  const bytes = script(
    'forkbomb.py',
    '#!/usr/bin/python3\nimport os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.05)\n',
  );
  const { report } = await detonateDetailed(bytes, job(bytes, 4), options);
  parseWith(SandboxReport, report, 'report');
  assert.equal(report.status, 'timeout');
  assert.match(report.reason ?? '', /process limit \(64\) reached/);
  assert.ok(report.signatures.some((s) => s.id === 'resource.fork-bomb'));
  assert.ok(
    report.processes.length > 1 && report.processes.length <= 64 + 8,
    `${report.processes.length} processes`,
  );
  assert.deepEqual(sandboxUidProcesses(), []);
});

void test('a sample that never exits is killed at the wall clock (with its detached children)', async (t) => {
  if (skip) return t.skip(skip);
  const bytes = script('sleeper.sh', '#!/bin/sh\n(sleep 1000 &)\nexec sleep 1000\n');
  const { report } = await detonateDetailed(bytes, job(bytes, 3), options);
  parseWith(SandboxReport, report, 'report');
  assert.equal(report.status, 'timeout');
  assert.equal(report.verdict, 'unknown');
  assert.ok(report.signatures.some((s) => s.id === 'sandbox.timeout'));
  assert.ok(report.processes.some((p) => p.executable === '/usr/bin/sleep'));
  assert.deepEqual(sandboxUidProcesses(), []);
});

for (const launcher of ['bwrap', 'unshare'] as const) {
  void test(`isolation (${launcher}): no host files, no host loopback, no real network — and every attempt is recorded`, async (t) => {
    if (skip) return t.skip(skip);
    await isolationProbe(launcher);
  });
}

async function isolationProbe(launcher: 'bwrap' | 'unshare'): Promise<void> {
  const planted = `/root/yamori-sandbox-planted-${randomBytes(4).toString('hex')}`;
  writeFileSync(planted, 'host secret\n', { mode: 0o600 });
  const hits: string[] = [];
  const server: Server = createServer((s) => {
    hits.push(String(s.remoteAddress));
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const py = [
      '#!/usr/bin/python3',
      'import socket',
      'def attempt(name, f):',
      '    try:',
      '        f()',
      '        print("REACHED", name)',
      '    except Exception as e:',
      '        print("BLOCKED", name, type(e).__name__)',
      `attempt("shadow", lambda: open("/etc/shadow").read())`,
      `attempt("planted", lambda: open("${planted}").read())`,
      `attempt("proc-root", lambda: open("/proc/1/root${planted}").read())`,
      `attempt("write-usr", lambda: open("/usr/bin/yamori-test", "w").write("x"))`,
      `attempt("host-loopback", lambda: socket.create_connection(("127.0.0.1", ${port}), timeout=2))`,
      'def web():',
      '    s = socket.create_connection(("93.184.216.34", 80), timeout=2)',
      '    s.sendall(b"GET / HTTP/1.1\\r\\nHost: example.com\\r\\n\\r\\n")',
      '    body = s.recv(200)',
      '    if b"Example Domain" not in body: raise RuntimeError("sink answered, not the internet")',
      'attempt("internet", web)',
      '',
    ].join('\n');
    const bytes = script('probe.py', py);
    // The unshare fallback builds its root with a shell script, traced: give it more time.
    const { report, stdout, environment } = await detonateDetailed(bytes, job(bytes, 20), {
      ...options,
      maxWallClockS: launcher === 'unshare' ? 20 : 6,
      launcher,
    });
    parseWith(SandboxReport, report, 'report');
    assert.equal(report.status, 'completed', report.reason);
    assert.ok(
      environment.isolation.some((i) => i.startsWith(launcher === 'bwrap' ? 'bubblewrap' : 'unshare')),
    );
    for (const name of ['shadow', 'planted', 'proc-root', 'write-usr', 'host-loopback', 'internet']) {
      assert.match(stdout, new RegExp(`^BLOCKED ${name} `, 'm'), `${name}: ${stdout}`);
    }
    assert.deepEqual(hits, [], 'the host listener saw no connection');
    const cred = report.signatures.find((s) => s.id === 'credential.sensitive-read');
    assert.match(cred?.evidence ?? '', /\/etc\/shadow/);
    assert.ok(cred?.evidence?.includes(planted));
    assert.ok(
      report.network.some((n) => n.kind === 'connect' && n.ip === '127.0.0.1' && n.port === port),
      'host-loopback attempt recorded',
    );
    assert.ok(
      report.network.some((n) => n.kind === 'http' && n.ip === '93.184.216.34'),
      'internet attempt landed in the sink',
    );
    assert.ok(report.signatures.some((s) => s.id === 'network.local-service'));
  } finally {
    server.close();
    rmSync(planted, { force: true });
  }
}

void test('other file types are refused; a crash, a full disk end as reports', async (t) => {
  if (skip) return t.skip(skip);
  const pdf = Buffer.from('%PDF-1.7\n%%EOF\n');
  const refused = await detonateDetailed(pdf, job(pdf), options);
  assert.equal(refused.report.status, 'refused');
  assert.match(refused.report.reason ?? '', /not an ELF/);

  const crash = script('crash.sh', '#!/bin/sh\nkill -SEGV $$\n');
  const crashed = await detonateDetailed(crash, job(crash), options);
  parseWith(SandboxReport, crashed.report, 'report');
  assert.equal(crashed.report.status, 'crashed');
  assert.match(crashed.report.reason ?? '', /SIGSEGV/);

  const fill = script('fill.sh', '#!/bin/sh\ncat /dev/zero > "$HOME/fill"\necho "rc=$?"\n');
  const filled = await detonateDetailed(fill, job(fill), { ...options, scratchBytes: 16 * 1024 * 1024 });
  parseWith(SandboxReport, filled.report, 'report');
  assert.ok(
    ['completed', 'crashed'].includes(filled.report.status),
    `${filled.report.status} ${filled.report.reason ?? ''}`,
  );
  assert.ok(filled.report.files.some((f) => f.path === '/home/alice/fill'));
});

void test('worker end to end: claim from an intel stand-in over HTTP, detonate for real, post a valid report', async (t) => {
  if (skip) return t.skip(skip);
  const sample = Buffer.from('#!/bin/sh\necho hello > "$HOME/hello.txt"\n');
  const j = job(sample);
  const posted: unknown[] = [];
  let claimed = false;
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== 'Bearer wk_test_key') {
        res.writeHead(401).end();
      } else if (req.url === '/api/intel/v1/sandbox/claim') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ job: claimed ? null : j }));
        claimed = true;
      } else if (req.url === `/api/intel/v1/sandbox/jobs/${j.id}/sample`) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(sample);
      } else if (req.url === `/api/intel/v1/sandbox/jobs/${j.id}/report`) {
        posted.push(JSON.parse(Buffer.concat(chunks).toString()));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as { port: number };
    const w = createWorker({
      intelUrl: `http://127.0.0.1:${port}`,
      workerKey: 'wk_test_key',
      workerId: 'test-worker',
      waitS: 0,
      detonate: (bytes, jb) => detonateDetailed(bytes, jb, options).then((d) => d.report),
    });
    assert.equal(await w.runOnce(), 'reported');
    assert.equal(posted.length, 1);
    const report = parseWith(SandboxReport, posted[0], 'report');
    assert.equal(report.status, 'completed', report.reason);
    assert.ok(report.files.some((f) => f.path === '/home/alice/hello.txt' && f.sha256));
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

void test("a dead worker's run directory (mounts included) is swept; a live one is kept", async (t) => {
  if (skip) return t.skip(skip);
  const dead = spawnSync('true').pid ?? 999_999;
  const stale = join(runDir, `yamori-sandbox-${dead}-AbC123`);
  const live = join(runDir, `yamori-sandbox-${process.pid}-XyZ789`);
  mkdirSync(join(stale, 'scratch'), { recursive: true });
  mkdirSync(live);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'yamori-test', join(stale, 'scratch')]);
  const swept = await sweepStaleRuns(runDir);
  assert.deepEqual(swept, [stale]);
  assert.equal(existsSync(stale), false);
  assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes(stale));
  rmSync(live, { recursive: true });
});
