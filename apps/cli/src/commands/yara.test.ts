import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serverOnSocket as server } from '../test-support.ts';
import { runYara } from './yara.ts';

const RULE = 'rule Cli_Marker : cli { strings: $a = "cli-marker" condition: $a }\n';
const OTHER = 'rule Cli_Other { strings: $b = "other" condition: $b }\n';
const BROKEN = 'rule Cli_Fine { condition: true }\n\nrule Cli_Broken {\n  condition:\n    true and\n}\n';

async function yara(args: string[], env: NodeJS.ProcessEnv) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runYara(args, { out: (l) => out.push(l), err: (l) => err.push(l), env });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

void test('yamori yara: add a file and a directory, list, show, disable/enable, update, delete (by name or id)', async (t) => {
  const s = await server(t);
  const one = join(s.dir, 'one.yar');
  writeFileSync(one, RULE);
  mkdirSync(join(s.dir, 'pack', 'sub'), { recursive: true });
  writeFileSync(join(s.dir, 'pack', 'a.yar'), OTHER);
  writeFileSync(join(s.dir, 'pack', 'sub', 'b.yara'), RULE);
  writeFileSync(join(s.dir, 'pack', 'README.md'), 'not a rule');

  const added = await yara(['add', one, '--name', 'single', '--description', 'one file'], s.env);
  assert.equal(added.code, 0, added.err);
  assert.match(added.out, /^added pack single \(\S+\): 1 rules in 1 files, enabled$/);
  const dirAdd = await yara(['add', join(s.dir, 'pack'), '--name', 'from-dir', '--disabled', '--json'], s.env);
  assert.equal(dirAdd.code, 0, dirAdd.err);
  const fromDir = JSON.parse(dirAdd.out) as { id: string; enabled: boolean; fileNames: string[]; ruleCount: number };
  assert.deepEqual([fromDir.enabled, fromDir.fileNames, fromDir.ruleCount], [false, ['a.yar', 'sub_b.yara'], 2]);

  const list = await yara(['list'], s.env);
  assert.equal(list.code, 0);
  assert.match(list.out, /disabled {2}v1 {6}2 rules {2}2 files {2}from-dir\n.*enabled {3}v1 {6}1 rules {2}1 files {2}single/);

  const show = await yara(['show', 'single', '--source'], s.env);
  assert.equal(show.code, 0, show.err);
  assert.ok(show.out.includes('  one file') && show.out.includes('  one.yar (') && show.out.includes('rule Cli_Marker'), show.out);

  assert.equal((await yara(['enable', fromDir.id], s.env)).code, 0);
  const dis = await yara(['disable', 'single'], s.env);
  assert.match(dis.out, /pack single \(\S+\) disabled/);
  const upd = await yara(['update', 'single', one, join(s.dir, 'pack', 'a.yar')], s.env);
  assert.equal(upd.code, 0, upd.err);
  assert.match(upd.out, /updated pack single \(\S+\) to v3: 2 rules in 2 files/);
  assert.equal((await yara(['delete', 'single'], s.env)).code, 0);
  const gone = await yara(['show', 'single'], s.env);
  assert.equal(gone.code, 1);
  assert.match(gone.err, /no YARA rule pack with id or name "single"/);
});

void test('yamori yara: compile errors are listed per file and line (exit 1, nothing stored); usage and access problems', async (t) => {
  const s = await server(t);
  const broken = join(s.dir, 'broken.yar');
  writeFileSync(broken, BROKEN);
  const good = join(s.dir, 'good.yar');
  writeFileSync(good, RULE);
  const r = await yara(['add', good, broken, '--name', 'bad'], s.env);
  assert.equal(r.code, 1);
  assert.match(r.err, /YARA rules do not compile: 1 error in 1 file; nothing was stored/);
  assert.match(r.err, /\n {2}broken\.yar:6: error in rule Cli_Broken: /);
  assert.equal((await yara(['list', '--json'], s.env)).out, '[]');

  assert.equal((await yara(['add', good], s.env)).code, 2, '--name is required');
  assert.equal((await yara(['frobnicate'], s.env)).code, 2);
  assert.equal((await yara(['add', join(s.dir, 'missing.yar'), '--name', 'x'], s.env)).code, 2);
  assert.equal((await yara(['list'], { YAMORI_URL: s.env.YAMORI_URL })).code, 2, 'no token');
  const ro = await yara(['add', good, '--name', 'ro'], { ...s.env, YAMORI_TOKEN: s.readOnly });
  assert.equal(ro.code, 1);
  assert.match(ro.err, /read-only/);
  const wrong = await yara(['list'], { ...s.env, YAMORI_TOKEN: 'ymt_nope' });
  assert.equal(wrong.code, 1);
  assert.match(wrong.err, /unknown API token/);
});
