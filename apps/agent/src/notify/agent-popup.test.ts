import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { defaultPolicy, encodeEnrollmentToken, type HostFacts } from '@yamori/protocol';
import { caFingerprint, createAgentClient } from '../agent-client.ts';
import { createAgent } from '../agent.ts';
import { createIsolation } from '../commands.ts';
import { enrollAgent } from '../enroll.ts';
import { startFakeServer, type FakeServer } from '../test-support/fake-agent-server.ts';
import { makeTestPki, type TestPki } from '../test-support/pki.ts';
import { hasScript, startPtySession, type PtySession } from '../test-support/pty-session.ts';
import { createPopupNotifier } from './notifier.ts';

// The whole path: the agent's exec decision in block mode → the Notifier the Linux sensors set →
// the blocked process's real terminal, with the policy's popup text.
const BAD = 'b'.repeat(64);
const facts = (): HostFacts => ({
  hostname: 'h1',
  machineId: 'machine-0002',
  os: { family: 'debian', name: 'Debian', version: '13', kernel: '6.1' },
  arch: 'x64',
  ips: [],
  agentVersion: '0.1.0',
});

let pki: TestPki;
let srv: FakeServer;
const dirs: string[] = [];
const ptys: PtySession[] = [];
before(async () => {
  pki = makeTestPki();
  srv = await startFakeServer(pki);
});
after(async () => {
  await srv.close();
  for (const p of ptys) p.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function agentWithPolicy(mode: 'block' | 'monitor') {
  const stateDir = mkdtempSync(join(tmpdir(), 'ymr-popup-'));
  dirs.push(stateDir);
  const policy = defaultPolicy();
  policy.modules.malware.mode = mode;
  policy.blocklist = [{ sha256: BAD }];
  policy.popup.en = { title: `Stopped by IT (${mode})`, body: 'Call 1234 if you need this program.' };
  srv.policy = { revision: mode === 'block' ? 11 : 12, document: policy };
  const token = encodeEnrollmentToken({ v: 1, url: srv.url, caSha256: caFingerprint(pki.caPem), secret: 'x'.repeat(16) });
  const id = await enrollAgent({ stateDir, token, facts: facts(), now: Date.now });
  const client = createAgentClient({ url: id.url, caPem: readFileSync(join(stateDir, 'ca.pem'), 'utf8'), credentials: { agentId: id.agentId, secret: id.secret } });
  const notifier = createPopupNotifier({
    sessions: { sessions: async () => [] }, // no desktop session
    terminalsOf: () => [], // only the blocked process's own terminal
  });
  const agent = createAgent({
    stateDir,
    client,
    agentId: id.agentId,
    facts,
    log: () => undefined,
    isolation: createIsolation({ runNft: async () => undefined, serverPeers: async () => [], stateDir }),
    hashFile: async () => BAD,
    sensors: { notifier },
  });
  await agent.checkinOnce(0);
  assert.equal(agent.policy().modules.malware.mode, mode);
  return { agent, notifier };
}

void test('block mode: the blocked process\'s terminal shows the policy\'s popup text; monitor mode shows nothing', { skip: !hasScript && 'util-linux script not installed' }, async () => {
  const pty = await startPtySession();
  ptys.push(pty);

  const monitor = await agentWithPolicy('monitor');
  assert.equal((await monitor.agent.decide({ pid: pty.target.pid, path: '/tmp/quiet', sha256: BAD })).allow, true);
  await monitor.notifier.idle();
  assert.equal(monitor.notifier.stats().requested, 0, 'monitor mode: no popup');

  const block = await agentWithPolicy('block');
  assert.equal((await block.agent.decide({ pid: pty.target.pid, path: '/tmp/x\x1b[2Jminer', sha256: BAD })).allow, false);
  await block.notifier.idle();
  await pty.waitFor('miner');
  const out = pty.output();
  assert.ok(out.includes('*** Stopped by IT (block) ***'), out);
  assert.ok(out.includes('Call 1234 if you need this program.'), out);
  assert.ok(out.includes('Program: /tmp/x\\x1b[2Jminer'), out);
  assert.ok(!out.includes('(monitor)') && !out.includes('/tmp/quiet'));
  assert.deepEqual([block.notifier.stats().terminalSent, block.notifier.stats().failures], [1, 0]);
  srv.policy = null;
});
