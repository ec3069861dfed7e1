import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanCommand, parseSize } from './scan.ts';
import { quarantineCommand } from './quarantine.ts';

// Written at test time from two halves, so no file in the repository is the EICAR file.
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$' + 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
const MAIN = join(import.meta.dirname, '..', 'main.ts');

function tree(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-cli-scan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const progress: string[] = [];
  const code = await scanCommand(args, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    progress: { isTTY: true, columns: 100, write: (t) => progress.push(t) },
  });
  return { code, out, err, progress };
}

void test('EICAR is found (exit 1), with a progress bar on a TTY and a summary', async (t) => {
  const dir = tree(t);
  writeFileSync(join(dir, 'eicar.com'), EICAR);
  writeFileSync(join(dir, 'clean.txt'), 'clean');
  const r = await run([dir]);
  assert.equal(r.code, 1, r.err.join('\n'));
  assert.ok(r.out.includes(`${join(dir, 'eicar.com')}: EICAR-Test-File FOUND`), r.out.join('\n'));
  assert.ok(r.out.includes('Infected files: 1'));
  assert.ok(r.out.includes('Scanned files: 2'));
  assert.ok(r.progress.some((p) => p.startsWith('\r\x1b[2K[')), 'bar drawn');
});

void test('clean tree exits 0; --json gives one document with the hash of every detection', async (t) => {
  const dir = tree(t);
  writeFileSync(join(dir, 'a'), 'a');
  assert.equal((await run([dir, '--no-progress'])).code, 0);
  writeFileSync(join(dir, 'e'), EICAR);
  const r = await run([dir, '--json', '--no-progress']);
  assert.equal(r.code, 1);
  assert.equal(r.out.length, 1);
  const doc = JSON.parse(r.out[0] ?? '') as { summary: { files: number; infected: number }; detections: { path: string; sha256: string; detections: { name: string }[] }[]; exitCode: number };
  assert.equal(doc.summary.files, 2);
  assert.equal(doc.detections[0]?.path, join(dir, 'e'));
  assert.match(doc.detections[0]?.sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.equal(doc.detections[0]?.detections[0]?.name, 'EICAR-Test-File');
  assert.equal(doc.exitCode, 1);
});

void test('broken rules: each error names file, line, rule; the good rules still scan', async (t) => {
  const dir = tree(t);
  const rules = join(dir, 'rules');
  mkdirSync(rules);
  writeFileSync(join(rules, 'good.yar'), 'rule Marker_Rule : test { strings: $m = "yamori-marker" condition: $m }\n');
  writeFileSync(join(rules, 'bad.yar'), 'rule Ok_Rule { condition: true and false }\n\nrule Bad_Rule {\n  condition:\n    filesize >\n}\n');
  const target = join(dir, 'target');
  mkdirSync(target);
  writeFileSync(join(target, 'x.txt'), 'prefix yamori-marker suffix');
  const r = await run([target, '--rules', rules, '--no-progress']);
  assert.equal(r.code, 1);
  assert.ok(r.err.some((l) => /^bad\.yar:6: error in rule Bad_Rule: .*syntax error/.test(l)), r.err.join('\n'));
  assert.ok(r.out.includes(`${join(target, 'x.txt')}: default:Marker_Rule FOUND`), r.out.join('\n'));
  // Nothing found, but the rules had errors: exit 2.
  rmSync(join(target, 'x.txt'));
  assert.equal((await run([target, '--rules', rules, '--no-progress'])).code, 2);
});

void test('bad command lines exit 2 with a message', async () => {
  for (const args of [['--bogus', '/tmp'], [], ['/tmp', '--jobs', 'x'], ['/tmp', '--max-yara-size', 'lots'], ['/tmp', '--blocklist', '/nonexistent/list']]) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.ok(r.err.length > 0);
  }
  assert.equal(parseSize('100M'), 100 * 1024 * 1024);
  assert.equal(parseSize('512k'), 512 * 1024);
});

void test('--quarantine moves detections into the store; quarantine list/restore bring them back', async (t) => {
  const dir = tree(t);
  const target = join(dir, 'target');
  mkdirSync(target);
  writeFileSync(join(target, 'eicar.com'), EICAR, { mode: 0o640 });
  const store = join(dir, 'store');
  const r = await run([target, '--quarantine', '--quarantine-dir', store, '--no-progress']);
  assert.equal(r.code, 1);
  assert.equal(existsSync(join(target, 'eicar.com')), false);
  const lines: string[] = [];
  assert.equal(await quarantineCommand(['list', '--json', '--dir', store], { out: (l) => lines.push(l) }), 0);
  const entries = JSON.parse(lines[0] ?? '[]') as { id: string; originalPath: string }[];
  assert.equal(entries.length, 1);
  assert.equal(entries[0]?.originalPath, join(target, 'eicar.com'));
  const id = entries[0]?.id ?? '';
  assert.equal(await quarantineCommand(['restore', id, '--dir', store], { out: () => undefined }), 0);
  assert.equal(readFileSync(join(target, 'eicar.com'), 'utf8'), EICAR);
  const errs: string[] = [];
  assert.equal(await quarantineCommand(['delete', id, '--dir', store], { err: (l) => errs.push(l) }), 1);
  assert.match(errs[0] ?? '', /no quarantined file/);
  assert.equal(await quarantineCommand(['frobnicate'], { err: () => undefined }), 2);
});

void test('an unreadable file is reported and the scan goes on; only errors → exit 2 (run as nobody)', { skip: process.getuid?.() !== 0 && 'needs root to drop to nobody' }, (t) => {
  const dir = tree(t);
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'readable.txt'), 'fine');
  writeFileSync(join(dir, 'secret.bin'), 'no access');
  chmodSync(join(dir, 'secret.bin'), 0o000);
  const sub = join(dir, 'closed');
  mkdirSync(sub, { mode: 0o700 });
  const scan = () => spawnSync(process.execPath, [MAIN, 'scan', dir, '--no-progress'], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 60_000 });
  const r = scan();
  assert.equal(r.status, 2, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`${join(dir, 'secret.bin')}: ERROR permission denied`));
  assert.match(r.stderr, new RegExp(`${sub}: ERROR`));
  assert.match(r.stdout, /Scanned files: 1\b/);
  assert.match(r.stdout, /Errors: 2\b/);
  // A detection beside the errors: exit 1.
  writeFileSync(join(dir, 'eicar.com'), EICAR);
  chownSync(join(dir, 'eicar.com'), 65534, 65534);
  assert.equal(scan().status, 1);
});
