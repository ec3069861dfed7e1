import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { defaultPolicy, encodeEnrollmentToken } from '@yamori/protocol';
import { hashScryptPassword, writeFileAtomic } from '@yamori/agent';
import { agentCommand } from './agent.ts';

function tmp(t: { after: (fn: () => void) => void }) {
  const d = mkdtempSync(join(tmpdir(), 'ymr-cli-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
const capture = () => {
  const lines: string[] = [];
  return { lines, out: (l: string) => lines.push(l), err: (l: string) => lines.push(`E: ${l}`) };
};

void test('enroll (token from the environment) against a plain-http dev server, then status', async (t) => {
  const dir = tmp(t);
  const seen: unknown[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ agentId: 'agent-1', secret: 's3cret', tenantId: 't1', groupId: 'g1', reactivated: false }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = encodeEnrollmentToken({ v: 1, url, caSha256: null, secret: 'x'.repeat(16) });

  const c = capture();
  assert.equal(await agentCommand(['status', '--state', dir], c), 3);
  assert.match(c.lines.join('\n'), /not enrolled/);
  assert.equal(await agentCommand(['enroll', '--state', dir], { ...c, env: {} }), 2);
  assert.equal(await agentCommand(['enroll', '--url', url, '--state', dir], { ...c, env: { YAMORI_ENROLL_TOKEN: token } }), 0, c.lines.join('\n'));
  assert.match(c.lines.join('\n'), /enrolled agent agent-1/);
  assert.equal((seen[0] as { token: string }).token, token);
  const s = capture();
  assert.equal(await agentCommand(['status', '--state', dir, '--json'], s), 0);
  const st = JSON.parse(s.lines.join('\n')) as { enrolled: boolean; server: string; queueDepth: number; policyRevision: null };
  assert.deepEqual([st.enrolled, st.server, st.queueDepth, st.policyRevision], [true, url, 0, null]);
});

void test("install: the unit runs node with a small young generation, V8's memory saver, malloc's fixed mmap threshold and a compile cache in the state directory; install builds the agent bundle and fills the cache before the first start", async (t) => {
  const root = tmp(t);
  const state = join(root, 'var/lib/yamori');
  const calls: string[][] = [];
  const systemctl = (a: string[]) => (calls.push(a), 0);
  assert.equal(await agentCommand(['install', '--prefix', root, '--state', state], { ...capture(), systemctl }), 0);
  assert.deepEqual(calls, [['daemon-reload'], ['enable', '--now', 'yamori-agent.service']]);
  const unit = readFileSync(join(root, 'etc/systemd/system/yamori-agent.service'), 'utf8');
  assert.match(unit, /^ExecStart=\S+ --max-semi-space-size=1 --memory-saver-mode --no-maglev --no-concurrent-sparkplug \S+ agent run --state /m);
  assert.match(unit, new RegExp(`^Environment=NODE_COMPILE_CACHE=${join(state, 'compile-cache')}$`, 'm'));
  assert.match(unit, /^Environment=GLIBC_TUNABLES=glibc\.malloc\.mmap_threshold=32768:glibc\.malloc\.trim_threshold=65536$/m);
  assert.ok(readdirSync(join(state, 'compile-cache')).length > 0, 'the compile cache is filled');
  assert.match(unit, /^ExecStart=\S+ --max-semi-space-size=1 --memory-saver-mode --no-maglev --no-concurrent-sparkplug \S+\/bin\/yamori\.js agent run --state /m, 'the unit runs bin/yamori.js, which runs the bundle');
  assert.ok(existsSync(join(state, 'agent-bundle', 'agent.mjs')), 'the agent bundle is built');
  assert.equal(statSync(state).mode & 0o777, 0o700, 'a state directory install makes is root-only');
  assert.equal(statSync(join(state, 'compile-cache')).mode & 0o777, 0o700);
});

void test('install writes a systemd unit with watchdog and restart; uninstall needs the policy password', async (t) => {
  const root = tmp(t);
  const state = join(root, 'var/lib/yamori');
  const c = capture();
  const calls: string[][] = [];
  const systemctl = (a: string[]) => (calls.push(a), 0);
  assert.equal(await agentCommand(['install', '--prefix', root, '--state', state, '--no-start'], { ...c, systemctl }), 0);
  assert.deepEqual(calls, []);
  const unit = readFileSync(join(root, 'etc/systemd/system/yamori-agent.service'), 'utf8');
  assert.match(unit, /^WatchdogSec=60$/m);
  assert.match(unit, /^Restart=always$/m);
  assert.match(unit, /^Type=notify$/m);
  assert.match(unit, new RegExp(`agent run --state ${state}`));
  assert.ok(existsSync(join(root, 'etc/yamori/agent.json')));

  const policy = defaultPolicy();
  policy.uninstall.passwordHash = await hashScryptPassword('let-me-out-please', { N: 1024 });
  writeFileAtomic(join(state, 'policy.json'), JSON.stringify({ revision: 1, document: policy }));
  const u = capture();
  assert.equal(await agentCommand(['uninstall', '--prefix', root, '--state', state, '--no-stop'], u), 4);
  assert.equal(await agentCommand(['uninstall', '--prefix', root, '--state', state, '--no-stop', '--password', 'wrong'], u), 4);
  assert.match(u.lines.join('\n'), /wrong uninstall password/);
  assert.ok(existsSync(join(root, 'etc/systemd/system/yamori-agent.service')));
  // ransomware decoys the agent placed go with it; a listed file someone has since changed stays
  const folder = join(root, 'srv');
  mkdirSync(folder);
  const decoy = (name: string, content: string) => {
    const path = join(folder, name);
    writeFileSync(path, content);
    return { path, folder, type: 'pdf', sha256: createHash('sha256').update(content).digest('hex'), size: content.length, createdAt: new Date().toISOString() };
  };
  const ours = decoy('.!!0_Invoice.pdf', '%PDF-1.4 decoy');
  const changed = decoy('~~~zz_Invoice.pdf', '%PDF-1.4 decoy 2');
  writeFileSync(changed.path, 'the user wrote here');
  writeFileAtomic(join(state, 'ransomware-decoys.json'), JSON.stringify({ decoys: [ours, changed] }));
  assert.equal(await agentCommand(['uninstall', '--prefix', root, '--state', state, '--password', 'let-me-out-please'], { ...u, systemctl }), 0);
  assert.deepEqual(calls, [['disable', '--now', 'yamori-agent.service']]);
  assert.equal(existsSync(join(root, 'etc/systemd/system/yamori-agent.service')), false);
  assert.equal(existsSync(state), false);
  assert.equal(existsSync(ours.path), false, 'the decoy is removed');
  assert.equal(readFileSync(changed.path, 'utf8'), 'the user wrote here', 'a file that is no longer our decoy is left alone');
  assert.match(u.lines.join('\n'), /removed 1 ransomware decoy file\b/);
});

void test('usage errors', async () => {
  const c = capture();
  assert.equal(await agentCommand(['frobnicate'], c), 2);
  assert.equal(await agentCommand(['status', '--bogus'], c), 2);
  assert.equal(await agentCommand(['run', '--state', '/nonexistent-yamori'], c), 1);
  assert.match(c.lines.join('\n'), /not enrolled/);
});

void test('run: starts in the foreground, checks in, stops cleanly on request', async (t) => {
  const dir = tmp(t);
  const checkins: unknown[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url?.endsWith('/checkin')) {
        checkins.push(JSON.parse(body));
        res.end(JSON.stringify({ policy: null, commands: [], commandCursor: 0, verdicts: [], verdictCursor: 0, serverTime: new Date().toISOString() }));
      } else if (req.url?.endsWith('/events')) {
        const b = JSON.parse(body || '{}') as { batchId?: string };
        res.end(JSON.stringify({ batchId: b.batchId ?? '', accepted: 1, duplicate: false }));
      } else res.end(JSON.stringify({ agentId: 'agent-2', secret: 's', tenantId: 't', groupId: 'g', reactivated: false }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const c = capture();
  const token = encodeEnrollmentToken({ v: 1, url, caSha256: null, secret: 'x'.repeat(16) });
  assert.equal(await agentCommand(['enroll', '--token', token, '--state', dir], c), 0);
  let stop!: () => void;
  const stopSignal = new Promise<void>((r) => (stop = r));
  // --no-sensors: this test is about enrollment and check-in; the real exec gate would mark every filesystem
  const running = agentCommand(['run', '--state', dir, '--no-sensors'], { ...c, env: {}, stopSignal });
  for (let i = 0; i < 200 && checkins.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
  stop();
  assert.equal(await running, 0);
  assert.ok(checkins.length >= 1);
  const s = capture();
  await agentCommand(['status', '--state', dir, '--json'], s);
  assert.ok((JSON.parse(s.lines.join('\n')) as { lastCheckinAt: string | null }).lastCheckinAt);
});
