// Issue 4's YARA done-when, end to end: a rule pack uploaded through the API (with `yamori yara add`
// and an API token, as an operator would) reaches the real `yamori agent run` through the check-in
// long-poll, and the real fanotify exec gate refuses a matching file in block mode and only alerts
// in monitor mode. Root only; the gate marks only a private tmpfs mounted here (--gate-mount).
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultPolicy, type Policy } from '@yamori/protocol';
import { consoleSession, upWithEnrolledAgent, YAMORI, type ServerProcess } from './test-support.ts';

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

/** Runs `bin` through /bin/sh (outside the gated tmpfs): 126 with "not permitted" when the gate refuses. */
function exec1(bin: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', '"$@"', 'sh', bin], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** `yamori yara ARGS…` as a separate process, as an operator runs it. */
function yara(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [YAMORI, 'yara', ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('YARA end to end: pack uploaded through the API, real agent, real exec gate', { skip: isRoot ? false : 'needs root (fanotify)' }, () => {
  let data = '';
  let stateDir = '';
  let scratch = '';
  let rulesDir = '';
  let mounted = false;
  let server: ServerProcess | undefined;
  let agent: ChildProcess | undefined;
  let agentOut = '';
  let api!: Awaited<ReturnType<typeof consoleSession>>['api'];
  let policyId = '';
  let agentId = '';
  let cliEnv: NodeJS.ProcessEnv = {};
  const marker = `yamori-e2e-yara-${randomBytes(8).toString('hex')}`;

  /** A copy of /bin/true with its own bytes (and the marker, when asked) appended. */
  const makeBin = (name: string, withMarker: boolean) => {
    const path = join(scratch, name);
    copyFileSync('/bin/true', path);
    appendFileSync(path, Buffer.concat([randomBytes(32), withMarker ? Buffer.from(`\0${marker}\0`) : Buffer.alloc(0)]));
    chmodSync(path, 0o755);
    return { path, sha: sha256(readFileSync(path)) };
  };
  const heldRules = (): string => {
    const p = join(stateDir, 'yara', 'rules.json');
    return existsSync(p) ? readFileSync(p, 'utf8') : '';
  };
  const appliedRevision = (): number | undefined => {
    try {
      return (JSON.parse(readFileSync(join(stateDir, 'policy.json'), 'utf8')) as { revision?: number }).revision;
    } catch {
      return undefined;
    }
  };
  const deploy = async (edit: (p: Policy) => void): Promise<void> => {
    const doc = defaultPolicy();
    doc.exec = { decisionTimeoutMs: 5000, onTimeout: 'allow', failClosedPaths: [] };
    edit(doc);
    const rev = (await api('POST', `/policies/${policyId}/revisions`, { document: doc })).json<{ revision: number }>();
    assert.equal((await api('POST', `/policies/${policyId}/revisions/${rev.revision}/approve`)).status, 200);
    assert.equal((await api('POST', `/policies/${policyId}/revisions/${rev.revision}/deploy`)).status, 200);
    await waitFor(`the agent to apply policy revision ${rev.revision}`, () => appliedRevision() === rev.revision || undefined);
  };
  interface AlertRow {
    ruleId: string;
    mode: string;
    action: string;
    sha256: string | null;
    processExecutable: string | null;
    event: { rule?: { name?: string; ruleset?: string }; yamori?: { would_have?: string; reasons?: string[] } };
  }
  const alerts = async () => (await api('GET', '/alerts?limit=200')).json<{ items: AlertRow[] }>().items;

  before(async () => {
    try {
      writeFileSync('/proc/sys/fs/fanotify/watchdog_timeout', '10');
    } catch {
      // older kernels have no watchdog
    }
    scratch = mkdtempSync(join(tmpdir(), 'yamori-e2e-yara-gate-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m,mode=0755', 'yamori-e2e-yara', scratch]);
    mounted = true;
    data = mkdtempSync(join(tmpdir(), 'yamori-e2e-yara-data-'));
    stateDir = mkdtempSync(join(tmpdir(), 'yamori-e2e-yara-agent-'));
    rulesDir = mkdtempSync(join(tmpdir(), 'yamori-e2e-yara-rules-'));
    const up = await upWithEnrolledAgent({ data, stateDir, tokenName: 'e2e-yara' });
    ({ server, api, agentId, policyId } = up);
    const token = (await api('POST', '/tokens', { name: 'e2e-yara', role: 'admin', scope: 'write' })).json<{ secret: string }>().secret;
    cliEnv = { YAMORI_URL: up.server.url, YAMORI_TOKEN: token, YAMORI_CA: join(data, 'tls', 'ca.pem') };
    agent = spawn(process.execPath, [YAMORI, 'agent', 'run', '--state', stateDir, '--gate-mount', scratch], { stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout?.on('data', (d: Buffer) => (agentOut += d.toString()));
    agent.stderr?.on('data', (d: Buffer) => (agentOut += d.toString()));
    await waitFor('the agent to start its exec gate', () => (agentOut.includes('exec gate started') && agentOut.includes('agent started')) || undefined, 30_000, 50);
  });

  after(async () => {
    const a = agent;
    if (a && a.exitCode === null && a.signalCode === null) {
      const exited = new Promise<void>((r) => a.once('exit', () => r()));
      a.kill('SIGKILL');
      await exited;
    }
    await server?.stop();
    if (mounted) {
      try {
        execFileSync('umount', ['-l', scratch]);
      } catch {
        // already gone
      }
    }
    for (const d of [scratch, data, stateDir, rulesDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('a broken pack is refused with file, line and rule; nothing reaches the agent', async () => {
    const broken = join(rulesDir, 'broken.yar');
    writeFileSync(broken, `rule Fine { strings: $a = "fine" condition: $a }\n\nrule Broken_One {\n  condition:\n    any of and\n}\n`);
    const r = await yara(['add', broken, '--name', 'broken'], cliEnv);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /nothing was stored/);
    assert.match(r.stderr, /^ {2}broken\.yar:5: error in rule Broken_One: /m);
    const list = await yara(['list', '--json'], cliEnv);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), []);
  });

  it('block mode: an uploaded rule refuses a matching file at exec (EPERM) with an alert naming the rule, tags and offsets; a clean file runs', async () => {
    await deploy((p) => (p.modules.malware.mode = 'block'));
    const hit = makeBin('marked', true);
    const clean = makeBin('clean', false);
    // before the pack: the marked file runs
    assert.equal((await exec1(hit.path)).code, 0, 'no rule yet: runs');

    const file = join(rulesDir, 'e2e.yar');
    writeFileSync(file, `rule E2E_Marker : e2e demo {\n  meta:\n    score = 90\n  strings:\n    $m = "${marker}"\n  condition:\n    $m\n}\n`);
    const added = await yara(['add', file, '--name', 'e2e-pack'], cliEnv);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /added pack e2e-pack .*1 rules in 1 files, enabled/);
    await waitFor('the agent to hold the pack', () => heldRules().includes('E2E_Marker') || undefined);

    // the same file, allowed (and possibly remembered by the kernel) before the pack, is checked again
    const denied = await exec1(hit.path);
    assert.equal(denied.code, 126, `exec of the matching file is refused (sh: 126), got ${denied.code}: ${denied.stderr}`);
    assert.match(denied.stderr, /not permitted/i);
    assert.equal((await exec1(clean.path)).code, 0, 'a file without the marker runs');

    const alert = await waitFor('the YARA alert at the server', async () => (await alerts()).find((a) => a.sha256 === hit.sha && a.ruleId.startsWith('yara:')));
    assert.equal(alert.ruleId, 'yara:e2e-pack:E2E_Marker');
    assert.equal(alert.mode, 'block');
    assert.equal(alert.action, 'deny_exec');
    assert.equal(alert.processExecutable, hit.path);
    const reasons = alert.event.yamori?.reasons ?? [];
    assert.match(reasons[0] ?? '', /YARA rule E2E_Marker \(pack "e2e-pack"; tags: e2e, demo\)/);
    const offset = readFileSync(hit.path).indexOf(marker);
    assert.ok(reasons.includes(`$m at offset ${offset} (${marker.length} bytes): "${marker}"`), reasons.join('\n'));

    // disabled on the server: the agent drops the rule and the file runs again
    const off = await yara(['disable', 'e2e-pack'], cliEnv);
    assert.equal(off.code, 0, off.stderr);
    await waitFor('the agent to drop the pack', () => (!heldRules().includes('E2E_Marker') && heldRules() !== '') || undefined);
    assert.equal((await exec1(hit.path)).code, 0, 'rule disabled: runs');
    assert.equal((await yara(['enable', 'e2e-pack'], cliEnv)).code, 0);
    await waitFor('the agent to hold the pack again', () => heldRules().includes('E2E_Marker') || undefined);
  });

  it("the server's scan command finds the file with the tenant's pack", async () => {
    const hit = makeBin('marked-scan', true);
    const cmd = (await api('POST', `/agents/${agentId}/commands`, { type: 'scan', params: { paths: [scratch] } })).json<{ id: string }>();
    const done = await waitFor('the scan command result', async () =>
      (await api('GET', `/agents/${agentId}/commands`)).json<Array<{ id: string; status: string; output: string | null }>>().find((c) => c.id === cmd.id && c.status !== 'pending'),
    );
    assert.equal(done.status, 'done', done.output ?? '');
    const answer = JSON.parse(done.output ?? '{}') as { detections: Array<{ path: string; names: string[] }>; summary: { yara: boolean } };
    assert.equal(answer.summary.yara, true);
    const found = answer.detections.find((d) => d.path === hit.path);
    assert.ok(found, done.output ?? '');
    assert.ok(found.names.some((n) => n.endsWith(':E2E_Marker')), found.names.join(', '));
  });

  it("the server's quarantine command moves the file into the agent's store, and restore brings it back byte for byte", async () => {
    const hit = makeBin('marked-quarantine', true);
    const before = readFileSync(hit.path);
    const command = async (params: Record<string, unknown>) => {
      const cmd = (await api('POST', `/agents/${agentId}/commands`, { type: 'quarantine', params })).json<{ id: string }>();
      return waitFor('the quarantine command result', async () =>
        (await api('GET', `/agents/${agentId}/commands`)).json<Array<{ id: string; status: string; output: string | null }>>().find((c) => c.id === cmd.id && c.status !== 'pending'),
      );
    };
    const q = await command({ path: hit.path, sha256: hit.sha, reason: 'e2e' });
    assert.equal(q.status, 'done', q.output ?? '');
    const entry = JSON.parse(q.output ?? '{}') as { id: string; originalPath: string; sha256: string };
    assert.equal(entry.originalPath, hit.path);
    assert.equal(existsSync(hit.path), false, 'moved away');
    const r = await command({ action: 'restore', id: entry.id });
    assert.equal(r.status, 'done', r.output ?? '');
    assert.deepEqual(readFileSync(hit.path), before);
  });

  it('monitor mode: the matching file runs and a "would have blocked" alert names the rule', async () => {
    await deploy((p) => (p.modules.malware.mode = 'monitor'));
    const hit = makeBin('marked-monitor', true);
    assert.equal((await exec1(hit.path)).code, 0, 'monitor mode stops nothing');
    const alert = await waitFor('the would-have alert at the server', async () => (await alerts()).find((a) => a.sha256 === hit.sha && a.ruleId.startsWith('yara:')));
    assert.equal(alert.ruleId, 'yara:e2e-pack:E2E_Marker');
    assert.equal(alert.mode, 'monitor');
    assert.equal(alert.event.yamori?.would_have, 'deny_exec');
  });
});
