import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { classifySample } from './sample-kind.ts';
import { shannonEntropy, HIGH_ENTROPY } from './entropy.ts';
import { decoyFiles } from './decoys.ts';
import { randomBytes } from 'node:crypto';

void test('ELF executables of this machine and shell/Python/Perl scripts are detonated; the rest is refused', () => {
  const ls = classifySample(readFileSync('/usr/bin/ls'));
  assert.equal(ls.ok && ls.kind, 'elf');
  assert.deepEqual(classifySample(Buffer.from('#!/bin/sh\necho hi\n')), {
    ok: true,
    kind: 'script',
    interpreter: '/bin/sh',
    language: 'shell',
  });
  const py = classifySample(Buffer.from('#!/usr/bin/env -S python3 -u\nprint(1)\n'));
  assert.equal(py.ok && py.kind === 'script' && py.language, 'python');
  const pl = classifySample(Buffer.from('#! /usr/bin/perl -w\nprint 1;\n'));
  assert.equal(pl.ok && pl.kind === 'script' && pl.language, 'perl');
  for (const bad of [
    Buffer.from('%PDF-1.7\n'),
    Buffer.from('#!/usr/bin/node\n'),
    Buffer.alloc(0),
    Buffer.from('MZ\x90\x00'),
  ]) {
    const r = classifySample(bad);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.reason.length > 0);
  }
  const arm = Buffer.from(readFileSync('/usr/bin/ls'));
  arm.writeUInt16LE(0xb7, 18);
  const r = classifySample(arm, 'x64');
  assert.ok(!r.ok && /machine 0xb7/.test(r.reason));
});

void test('entropy: decoys are low, random bytes are high; decoys carry valid headers', () => {
  assert.ok(shannonEntropy(randomBytes(4096)) > HIGH_ENTROPY);
  const decoys = decoyFiles();
  for (const d of decoys) assert.ok(shannonEntropy(d.content) < 6, `${d.path} must be low-entropy`);
  const byExt = (ext: string) =>
    decoys
      .find((d) => d.path.endsWith(ext))
      ?.content.subarray(0, 8)
      .toString('latin1');
  assert.equal(byExt('.pdf')?.slice(0, 5), '%PDF-');
  assert.equal(byExt('.rtf')?.slice(0, 5), '{\\rtf');
  assert.equal(shannonEntropy(new Uint8Array()), 0);
});
