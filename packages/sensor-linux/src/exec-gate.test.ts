// The exec gate on the real kernel: marks only a private tmpfs, short decision timeouts, and
// every gate stopped in after() — a failing test must never leave an exec blocked.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import {
  captureExec,
  type ExecGate,
  type ExecGateOptions,
  type ExecRequest,
  type GateNotice,
} from './index.ts';
import {
  mountScratch,
  sensorsOrSkip,
  setFanotifyWatchdog,
  sh,
  sleep,
  waitFor,
  type Scratch,
} from './testing/harness.ts';

const { sensors, skip } = sensorsOrSkip();

interface WasmApi {
  instantiate(bytes: Uint8Array): Promise<{ instance: { exports: Record<string, unknown> } }>;
  RuntimeError: new () => Error;
}

describe('exec gate', { skip: skip ?? false }, () => {
  let scratch: Scratch;
  const gates: ExecGate[] = [];
  const children: ChildProcess[] = [];

  before(() => {
    setFanotifyWatchdog(5);
    scratch = mountScratch();
  });
  after(() => {
    for (const g of gates) g.stop();
    for (const c of children) c.kill('SIGKILL');
    scratch?.cleanup();
  });

  const start = (
    options: Omit<ExecGateOptions, 'onExec'> & { onExec?: (req: ExecRequest) => void },
  ): {
    gate: ExecGate;
    requests: ExecRequest[];
    notices: GateNotice[];
  } => {
    const requests: ExecRequest[] = [];
    const notices: GateNotice[] = [];
    const gate = sensors!.startExecGate({
      mounts: [scratch.dir],
      markMode: 'mount',
      timeoutMs: 300,
      // our `sh -c` helpers are children of this process: make them ask like anyone else
      allowChildren: false,
      ...options,
      onExec: (req) => {
        requests.push(req);
        options.onExec?.(req);
      },
      onNotice: (n) => notices.push(n),
    });
    gates.push(gate);
    return { gate, requests, notices };
  };

  it('(a) JS denies one binary: its exec fails with EPERM, others run', async () => {
    const bad = scratch.binary('bad');
    const good = scratch.binary('good');
    const { gate } = start({
      onExec: (req) => gate.respond(req.id, req.path === bad ? 'deny' : 'allow'),
    });
    try {
      const denied = await sh(`exec ${bad}`);
      assert.equal(denied.code, 126, 'sh reports "Permission denied" (EPERM from execve) as 126');
      const ok = await sh(`exec ${good}`);
      assert.equal(ok.code, 0);
      // the message the caller sees is EPERM's
      const shown = await sh(`${bad} 2>&1; echo "rc=$?"`);
      assert.match(shown.stdout, /Permission denied|not permitted/i);
      assert.match(shown.stdout, /rc=126/);
      const s = gate.stats();
      assert.ok(s.jsDenied >= 2 && s.jsAllowed >= 1, JSON.stringify(s));
      assert.equal(s.timeouts, 0);
    } finally {
      gate.stop();
    }
  });

  // the same captures read by JavaScript, and by the gate's capture thread in C
  for (const native of [false, true]) {
    const by = native ? 'the gate\'s capture thread' : 'JS';
    it(`(a) while an exec is held, ${by} captures argv, cwd, user, exe and sha256`, async () => {
      const bin = scratch.binary('captured');
      const expected = createHash('sha256').update(readFileSync(bin)).digest('hex');
      let capture: Awaited<ReturnType<typeof captureExec>> | undefined;
      const { gate } = start({
        timeoutMs: 3000,
        capture: native,
        onExec: (req) => {
          assert.equal(req.capture !== undefined, native);
          void captureExec(req).then((c) => {
            capture = c;
            gate.respond(req.id, 'allow');
          });
        },
      });
      try {
        const r = await sh(`cd /tmp && exec ${bin} one 'two words' three`);
        assert.equal(r.code, 0);
        assert.ok(capture);
        assert.equal(capture.argvSource, 'execve');
        assert.deepEqual(capture.argv, [bin, 'one', 'two words', 'three']);
        assert.equal(capture.cwd, '/tmp');
        assert.equal(capture.exe, bin);
        if (!native) assert.match(capture.callerExe ?? '', /sh$|dash|bash/);
        assert.equal(capture.uid, 0);
        assert.equal(capture.pid, r.pid);
        assert.equal(capture.sha256, expected);
        assert.equal(gate.stats().timeouts, 0);
      } finally {
        gate.stop();
      }
    });

    it(`(a) the new image's LD_PRELOAD is read from the execve arguments (the caller has none), other variables are not (${by})`, async () => {
      const bin = scratch.binary('preloaded');
      const big = scratch.binary('big-preloaded');
      appendFileSync(big, Buffer.alloc(5 * 1024 * 1024, 7)); // hashed by streaming, not in one go
      const captures: Array<Awaited<ReturnType<typeof captureExec>>> = [];
      const { gate } = start({
        timeoutMs: 3000,
        capture: native,
        captureEnv: ['LD_PRELOAD', 'LD_AUDIT'],
        onExec: (req) => {
          assert.equal(req.capture?.argvSource ?? 'execve', 'execve');
          void captureExec(req, { envNames: ['LD_PRELOAD', 'LD_AUDIT'] }).then((c) => {
            captures.push(c);
            gate.respond(req.id, 'allow');
          });
        },
      });
      try {
        const value = `/nonexistent/${'x'.repeat(5000)}.so`; // longer than a page: read across pages
        for (const b of [bin, big]) {
          const r = await sh(`LD_PRELOAD=${value} SECRET_TOKEN=hunter2 exec ${b} 2>/dev/null`);
          assert.equal(r.code, 0);
        }
        assert.equal(captures.length, 2);
        for (const [i, c] of captures.entries()) {
          assert.deepEqual(c.env, [`LD_PRELOAD=${value}`]);
          assert.equal(c.sha256, createHash('sha256').update(readFileSync(i === 0 ? bin : big)).digest('hex'));
        }
        const plain = await sh(`exec ${bin}`);
        assert.equal(plain.code, 0);
        assert.equal(captures[2]?.env, undefined, 'none set: no env field');
      } finally {
        gate.stop();
      }
    });
  }

  it("(a) the request pidfd kills the exec'ing process without a pid race", async () => {
    const bin = scratch.binary('killed');
    const { gate } = start({
      timeoutMs: 3000,
      onExec: (req) => {
        assert.ok(req.pidfd >= 0, 'pidfd delivered');
        sensors!.killPidfd(req.pidfd, 'SIGKILL');
        gate.respond(req.id, 'deny');
      },
    });
    try {
      const r = await sh(`exec ${bin}`);
      assert.equal(r.signal, 'SIGKILL');
      assert.equal(gate.stats().reportPidfd, true);
    } finally {
      gate.stop();
    }
  });

  it('(b) allow + ignore mark: no further events until the file is written', async () => {
    const bin = scratch.binary('marked');
    const { gate, requests } = start({
      onExec: (req) => gate.respond(req.id, 'allow', { ignoreMark: true }),
    });
    try {
      assert.equal((await sh(`exec ${bin}`)).code, 0);
      assert.equal(requests.length, 1);
      for (let i = 0; i < 5; i++) assert.equal((await sh(`exec ${bin}`)).code, 0);
      assert.equal(requests.length, 1, 'the kernel ignore mark answered the later execs');
      appendFileSync(bin, '\n# modified\n');
      assert.equal((await sh(`exec ${bin}`)).code, 0);
      assert.equal(requests.length, 2, 'writing the file dropped the ignore mark');
      assert.equal((await sh(`exec ${bin}`)).code, 0);
      assert.equal(requests.length, 2);
      gate.invalidateAll();
      assert.equal((await sh(`exec ${bin}`)).code, 0);
      assert.equal(requests.length, 3, 'invalidateAll flushed the ignore marks');
      assert.ok(gate.stats().ignoreMarks >= 2);
    } finally {
      gate.stop();
    }
  });

  it('(b) cached verdicts are answered natively; invalidate drops them', async () => {
    const bin = scratch.binary('cached');
    let verdict: 'allow' | 'deny' = 'deny';
    const { gate, requests } = start({ onExec: (req) => gate.respond(req.id, verdict, { cache: true }) });
    try {
      assert.equal((await sh(`exec ${bin}`)).code, 126);
      assert.equal((await sh(`exec ${bin}`)).code, 126);
      assert.equal(requests.length, 1, 'second exec denied from the native cache');
      assert.equal(gate.stats().cacheHits, 1);
      verdict = 'allow';
      const first = requests[0]!;
      gate.invalidate({ dev: first.dev, ino: first.ino });
      assert.equal((await sh(`exec ${bin}`)).code, 0);
      assert.equal(requests.length, 2);
      appendFileSync(bin, '\n');
      assert.equal((await sh(`exec ${bin}`)).code, 0);
      assert.equal(requests.length, 3, 'a changed mtime/size is a different cache key');
    } finally {
      gate.stop();
    }
  });

  it('(c) JS never answers: fail-open after the timeout, fail-closed under listed prefixes', async () => {
    mkdirSync(`${scratch.dir}/closed`, { recursive: true });
    const open = scratch.binary('open');
    const closed = scratch.binary('closed/bin');
    const { gate, notices } = start({ timeoutMs: 200, failClosedPrefixes: [`${scratch.dir}/closed`] });
    try {
      const a = await sh(`exec ${open}`);
      assert.equal(a.code, 0, 'fail-open');
      assert.ok(a.ms >= 150, `held until the deadline (${a.ms.toFixed(0)} ms)`);
      const b = await sh(`exec ${closed}`);
      assert.equal(b.code, 126, 'fail-closed prefix denied');
      const s = gate.stats();
      assert.equal(s.timeouts, 2);
      assert.equal(s.failOpen, 1);
      assert.equal(s.failClosed, 1);
      await waitFor(() => notices.filter((n) => n.kind === 'expired').length === 2);
      assert.deepEqual(
        notices.filter((n) => n.kind === 'expired').map((n) => (n.kind === 'expired' ? n.verdict : '')),
        ['allow', 'deny'],
      );
      // a late answer is refused and counted, not applied
      const late = gate.respond(1, 'deny');
      assert.ok(late === 'expired' || late === 'unknown');
      gate.configure({ timeoutMs: 100, failClosedPrefixes: [] });
      assert.equal((await sh(`exec ${closed}`)).code, 0, 'reconfigured: prefix no longer fail-closed');
    } finally {
      gate.stop();
    }
  });

  it('(c) a full pending table answers by the fail rule at once and counts it', async () => {
    mkdirSync(`${scratch.dir}/full-closed`, { recursive: true });
    const held = scratch.binary('held');
    const open = scratch.binary('full-open');
    const closed = scratch.binary('full-closed/bin');
    const { gate, requests } = start({
      maxPending: 1,
      timeoutMs: 5000,
      failClosedPrefixes: [`${scratch.dir}/full-closed`],
    });
    try {
      const first = sh(`exec ${held}`);
      assert.ok(await waitFor(() => requests.length === 1));
      const c = await sh(`exec ${closed}`);
      assert.equal(c.code, 126);
      const o = await sh(`exec ${open}`);
      assert.equal(o.code, 0);
      assert.ok(o.ms < 2000, 'answered at once, not at the deadline');
      const s = gate.stats();
      assert.equal(s.queueFull, 2);
      assert.equal(s.failClosed, 1);
      assert.equal(s.failOpen, 1);
      assert.equal(s.pending, 1);
      gate.stop();
      assert.equal((await first).code, 0);
    } finally {
      gate.stop();
    }
  });

  it('(d) own process, its children and registered pids are allowed without asking JS', async () => {
    const bin = scratch.binary('own');
    const { gate, requests } = start({
      allowChildren: true,
      timeoutMs: 2000,
      onExec: (req) => gate.respond(req.id, 'deny'),
    });
    try {
      // a direct child of the gate's process (spawn blocks our loop until exec: must not wait on JS)
      const child = await new Promise<number | null>((resolve) => spawn(bin).on('close', resolve));
      assert.equal(child, 0);
      assert.equal(requests.length, 0);
      assert.ok(gate.stats().selfAllowed >= 1);
      // a grandchild is not ours: JS decides (deny)
      assert.equal((await sh(`${bin}; exit $?`)).code, 126);
      assert.equal(requests.length, 1);
    } finally {
      gate.stop();
    }
    const second = start({
      allowChildren: false,
      timeoutMs: 2000,
      onExec: (req) => second.gate.respond(req.id, 'deny'),
    });
    try {
      const helper = spawn('/bin/sh', ['-c', `read go; exec ${bin}`], {
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      children.push(helper);
      second.gate.allowPid(helper.pid!);
      const exited = new Promise<number | null>((resolve) => helper.on('close', resolve));
      helper.stdin!.end('go\n');
      assert.equal(await exited, 0, 'registered helper pid allowed');
      assert.equal(second.requests.length, 0);
      second.gate.forgetPid(helper.pid!);
      assert.equal((await sh(`exec ${bin}`)).code, 126, 'others are still asked');
      assert.equal(second.requests.length, 1);
    } finally {
      second.gate.stop();
    }
  });

  it('(d) stop() with an exec pending lets it run at once', async () => {
    const bin = scratch.binary('pending');
    const { gate, requests } = start({ timeoutMs: 20000 });
    const run = sh(`exec ${bin}`);
    assert.ok(await waitFor(() => requests.length === 1));
    const t0 = performance.now();
    gate.stop();
    const r = await run;
    assert.equal(r.code, 0);
    assert.ok(performance.now() - t0 < 2000);
  });

  it('(e) SIGKILL of the process holding the gate never leaves an exec blocked', async () => {
    const bin = scratch.binary('orphan');
    const script = fileURLToPath(new URL('./testing/gate-child.ts', import.meta.url));
    const child = spawn(process.execPath, [script, scratch.dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    assert.ok(await waitFor(() => out.includes('ready'), 10000), 'gate child started');
    const run = sh(`exec ${bin}`, { timeoutMs: 20000 });
    assert.ok(await waitFor(() => out.includes(`held`), 5000), 'exec is held by the child gate');
    await sleep(100);
    const t0 = performance.now();
    child.kill('SIGKILL');
    const r = await run;
    assert.equal(r.code, 0, 'the kernel allowed the pending exec when the group died');
    assert.ok(
      performance.now() - t0 < 5000,
      `exec completed ${(performance.now() - t0).toFixed(0)} ms after kill`,
    );
  });

  it('a WebAssembly bounds trap (V8 may take it as SIGSEGV) does not trip the crash handler', async () => {
    const bin = scratch.binary('wasm');
    const { gate, requests } = start({ onExec: (req) => gate.respond(req.id, 'allow') });
    try {
      // (memory 1) (func (export "f") (result i32) (i32.load (i32.const 70000)))
      const bytes = new Uint8Array([
        0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7f, 3, 2, 1, 0, 5, 3, 1, 0, 1, 7, 5, 1, 1,
        0x66, 0, 0, 0x0a, 0x0b, 1, 9, 0, 0x41, 0xf0, 0xa2, 0x04, 0x28, 2, 0, 0x0b,
      ]);
      // the WebAssembly global is not in this project's TS lib: type the little we use
      const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
      const { instance } = await wasm.instantiate(bytes);
      const f = instance.exports['f'] as () => number;
      for (let i = 0; i < 3; i++) assert.throws(() => f(), wasm.RuntimeError);
      assert.equal((await sh(`exec ${bin}`)).code, 0);
      assert.equal(requests.length, 1, 'the group is still open and asking');
      assert.equal(gate.stats().running, true);
    } finally {
      gate.stop();
    }
  });

  it('follows mount changes: a tmpfs mounted later under the watched path is gated', async () => {
    const { gate, requests, notices } = start({ onExec: (req) => gate.respond(req.id, 'deny') });
    const sub = `${scratch.dir}/late`;
    mkdirSync(sub, { recursive: true });
    try {
      await sh(`mount -t tmpfs -o size=4m yamori-sensor-late ${sub} && cp /bin/true ${sub}/t`);
      assert.ok(await waitFor(() => notices.some((n) => n.kind === 'mounts')), 'rescan marked the new mount');
      assert.equal((await sh(`exec ${sub}/t`)).code, 126);
      assert.equal(requests.length, 1);
    } finally {
      gate.stop();
      await sh(`umount -l ${sub}`);
    }
  });
});
