import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from '@yamori/protocol';
import {
  buildIsolationRuleset,
  createCommandRunner,
  createIsolation,
  createNftRunner,
  createProcessKiller,
  resolveServerPeers,
  type Isolation,
} from './commands.ts';
import { createProcReader } from './proc-reader.ts';
import { entityId } from './process-tree.ts';

const cmd = (type: Command['type'], params: Record<string, unknown>): Command => ({ id: 'c1', type, params, createdAt: '2026-06-01T00:00:00Z' });
const reader = createProcReader();
const noIsolation: Isolation = { isolate: async () => 'x', release: async () => 'x', reapply: async () => false, isolated: () => false };
const exited = (c: ChildProcess) => new Promise<NodeJS.Signals | null>((r) => c.once('exit', (_code, sig) => r(sig)));
const alive = (pid: number) => reader.startTicks(pid) !== undefined && !/^State:\s+Z/m.test(spawnSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }).stdout);

void test('ruleset: validated addresses only, loopback + server peers, atomic replace', () => {
  const r = buildIsolationRuleset({ server: [{ ip: '192.0.2.10', port: 8443 }], allow: [{ ip: '2001:db8::1', port: 22 }], allowDhcp: false });
  assert.match(r, /^add table inet yamori_isolation\ndelete table inet yamori_isolation\ntable inet yamori_isolation \{/);
  assert.match(r, /ip daddr 192\.0\.2\.10 tcp dport 8443 accept/);
  assert.match(r, /ip6 saddr 2001:db8::1 tcp sport 22 ct state established,related accept/);
  assert.doesNotMatch(r, /udp sport 68/);
  assert.throws(() => buildIsolationRuleset({ server: [{ ip: '1.2.3.4; flush ruleset', port: 1 }], allow: [], allowDhcp: true }), /not an IP/);
  assert.throws(() => buildIsolationRuleset({ server: [], allow: [], allowDhcp: true }), /management server/);
});

void test('server peers from the URL', async () => {
  assert.deepEqual(await resolveServerPeers('https://192.0.2.1:8443/x'), [{ ip: '192.0.2.1', port: 8443 }]);
  assert.deepEqual(await resolveServerPeers('https://[2001:db8::2]'), [{ ip: '2001:db8::2', port: 443 }]);
});

void test('kill: one process, refusing a reused pid, and a whole tree', async () => {
  const run = createCommandRunner({ kill: createProcessKiller({ reader }), isolation: noIsolation });
  const a = spawn('sleep', ['60']);
  const aTicks = reader.startTicks(a.pid!)!;
  const refused = await run.run(cmd('kill', { pid: a.pid, startTicks: aTicks + 1 }));
  assert.equal(refused.status, 'failed');
  assert.match(refused.output ?? '', /another process/);
  assert.match((await run.run(cmd('kill', { pid: a.pid, entityId: 'not-it' }))).output ?? '', /entity id differs/);
  assert.equal(entityId(reader.bootId(), a.pid!, aTicks).length, 44);
  const aExit = exited(a);
  assert.equal((await run.run(cmd('kill', { pid: a.pid, startTicks: aTicks, entityId: entityId(reader.bootId(), a.pid!, aTicks) }))).status, 'done');
  assert.equal(await aExit, 'SIGKILL');

  const tree = spawn('sh', ['-c', 'sleep 60 & sleep 60 & echo started; wait'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((r) => tree.stdout.once('data', r));
  const kids = reader.listPids().filter((p) => reader.read(p)?.ppid === tree.pid);
  assert.equal(kids.length, 2);
  const treeExit = exited(tree);
  const res = await run.run(cmd('kill', { pid: tree.pid, tree: true }));
  assert.equal(res.status, 'done');
  assert.match(res.output ?? '', /killed 3 process/);
  assert.equal(await treeExit, 'SIGKILL');
  for (const k of kids) {
    for (let i = 0; i < 100 && alive(k); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(k), false, `child ${k} still alive`);
  }
  assert.equal((await run.run(cmd('kill', { pid: 1 }))).status, 'failed');
  assert.equal((await run.run(cmd('kill', { pid: 'x' }))).status, 'failed');
});

void test('unknown and delegated commands', async () => {
  const run = createCommandRunner({
    kill: createProcessKiller({ reader }),
    isolation: noIsolation,
    extra: { scan: async () => ({ status: 'done', output: 'scanned' }) },
  });
  assert.deepEqual(await run.run(cmd('scan', {})), { status: 'done', output: 'scanned' });
  assert.match((await run.run(cmd('upgrade', {}))).output ?? '', /not supported/);
});

const canNetns =
  process.getuid?.() === 0 &&
  spawnSync('nft', ['--version']).status === 0 &&
  spawnSync('ip', ['netns', 'list']).status === 0;

void test('isolation for real in a network namespace: only the server stays reachable; release restores', { skip: !canNetns && 'needs root, nft (bash scripts/apt-ensure.sh nftables) and ip netns' }, async (t) => {
  const tag = `${process.pid % 100000}`;
  const iso = `ymr-iso-${tag}`;
  const peer = `ymr-peer-${tag}`;
  const ip = (...a: string[]) => execFileSync('ip', a, { stdio: 'pipe' });
  const state = mkdtempSync(join(tmpdir(), 'ymr-iso-'));
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', iso]);
    spawnSync('ip', ['netns', 'del', peer]);
    rmSync(state, { recursive: true, force: true });
  });
  ip('netns', 'add', iso);
  ip('netns', 'add', peer);
  ip('link', 'add', `vi${tag}`, 'type', 'veth', 'peer', 'name', `vp${tag}`);
  ip('link', 'set', `vi${tag}`, 'netns', iso);
  ip('link', 'set', `vp${tag}`, 'netns', peer);
  ip('-n', iso, 'addr', 'add', '10.231.0.1/24', 'dev', `vi${tag}`);
  ip('-n', peer, 'addr', 'add', '10.231.0.2/24', 'dev', `vp${tag}`);
  for (const [ns, dev] of [[iso, `vi${tag}`], [peer, `vp${tag}`]] as const) {
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  // the "server" (8443) and some other service (8080) on the peer
  const server = spawn('ip', ['netns', 'exec', peer, process.execPath, '-e', `
    const net = require('node:net');
    for (const p of [8443, 8080]) net.createServer((s) => s.end('hi')).listen(p, '10.231.0.2');
    console.log('ready');`], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(server);
  await new Promise((r) => server.stdout.once('data', r));
  const probe = (port: number): string =>
    execFileSync('ip', ['netns', 'exec', iso, process.execPath, '-e', `
      const s = require('node:net').connect(${port}, '10.231.0.2');
      s.setTimeout(700, () => { console.log('blocked'); process.exit(0); });
      s.on('data', () => { console.log('open'); process.exit(0); });
      s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); });`], { encoding: 'utf8' }).trim();
  assert.deepEqual([probe(8443), probe(8080)], ['open', 'open']);

  const isolation = createIsolation({
    runNft: createNftRunner({ prefix: ['ip', 'netns', 'exec', iso] }),
    serverPeers: () => resolveServerPeers('https://10.231.0.2:8443'),
    stateDir: state,
  });
  const run = createCommandRunner({ kill: createProcessKiller({ reader }), isolation });
  const r = await run.run(cmd('isolate', {}));
  assert.equal(r.status, 'done', r.output);
  assert.equal(isolation.isolated(), true);
  assert.deepEqual([probe(8443), probe(8080)], ['open', 'blocked']);
  // idempotent, and survives an agent restart (state on disk)
  assert.equal((await run.run(cmd('isolate', {}))).status, 'done');
  const again = createIsolation({ runNft: createNftRunner({ prefix: ['ip', 'netns', 'exec', iso] }), serverPeers: async () => [], stateDir: state });
  assert.equal(again.isolated(), true);
  assert.equal(await again.reapply(), true);
  assert.deepEqual([probe(8443), probe(8080)], ['open', 'blocked']);

  assert.equal((await run.run(cmd('release', {}))).status, 'done');
  assert.deepEqual([probe(8443), probe(8080)], ['open', 'open']);
  assert.equal((await run.run(cmd('release', {}))).status, 'done'); // releasing twice is fine
});
