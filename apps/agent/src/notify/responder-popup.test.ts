import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { indexExclusions } from '@yamori/detection';
import { defaultPolicy, type Mode } from '@yamori/protocol';
import { createIsolation } from '../commands.ts';
import { createProcReader } from '../proc-reader.ts';
import { createProcessTree } from '../process-tree.ts';
import { createResponder } from '../response.ts';
import type { Notifier } from '../sensors.ts';

// After a kill the process may already be reaped: the responder hands the notifier the uid the
// process tree knew, so the user can still be found.
async function respondTo(mode: Mode) {
  const victim = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
  const pid = victim.pid ?? 0;
  const exited = new Promise((r) => victim.once('exit', r));
  let n = 0;
  const tree = createProcessTree({ reader: createProcReader(), now: Date.now, newId: () => `id-${++n}` });
  tree.seed();
  const known = tree.get(pid);
  assert.ok(known?.exe !== undefined && known.uid !== undefined, 'the seed read the victim');
  const doc = defaultPolicy();
  doc.modules.behavior.mode = mode;
  doc.popup.en = { title: 'Stopped', body: 'Call IT.' };
  const popups: { text: { title: string; body: string }; ctx: Parameters<Notifier['popup']>[1] }[] = [];
  const respond = createResponder({
    applied: () => ({ revision: 1, document: doc, exclusions: indexExclusions([]), blocklist: new Set<string>(), appliedAt: new Date().toISOString() }),
    fallback: doc,
    tree,
    kill: async (p) => {
      process.kill(p, 'SIGKILL');
      await exited;
      return { killed: [p], detail: 'killed' };
    },
    isolation: createIsolation({ runNft: () => Promise.reject(new Error('no isolation here')), serverPeers: async () => [], stateDir: '/nonexistent' }),
    notifier: { popup: (text, ctx) => popups.push({ text, ctx }) },
    record: () => undefined,
    log: () => undefined,
    now: Date.now,
    newId: () => `alert-${++n}`,
    language: 'en',
  });
  try {
    await respond({ module: 'behavior', rule: { id: 'r1', name: 'reverse shell', level: 'high' }, reasons: ['x'], actions: ['kill_process'], process: { pid } });
  } finally {
    victim.kill('SIGKILL');
  }
  return { pid, popups, exe: known.exe, uid: known.uid };
}

void test('block mode: after the kill the popup carries the policy text, the program and the uid from the process tree', async () => {
  const { pid, popups, exe, uid } = await respondTo('block');
  assert.deepEqual(popups, [{ text: { title: 'Stopped', body: 'Call IT.' }, ctx: { pid, path: exe, uid } }]);
  assert.match(exe, /\/sleep$/);
});

void test('monitor mode: no popup', async () => {
  assert.deepEqual((await respondTo('monitor')).popups, []);
});
