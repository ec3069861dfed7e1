import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSeccompFilter, evalSeccomp } from './seccomp.ts';

void test('seccomp filter: denies the listed calls and x32 with EPERM, allows the rest, kills foreign ABIs', () => {
  const f = buildSeccompFilter('x64');
  assert.ok(f);
  const X64 = 0xc000003e;
  assert.equal(evalSeccomp(f, X64, 321), 0x00050001, 'bpf → EPERM');
  assert.equal(evalSeccomp(f, X64, 425), 0x00050001, 'io_uring_setup → EPERM');
  assert.equal(evalSeccomp(f, X64, 442), 0x00050001, 'last entry → EPERM');
  assert.equal(evalSeccomp(f, X64, 0x40000000 + 2), 0x00050001, 'x32 → EPERM');
  for (const nr of [0, 1, 2, 42, 56, 59, 101, 257])
    assert.equal(evalSeccomp(f, X64, nr), 0x7fff0000, `nr ${nr} allowed`);
  assert.equal(evalSeccomp(f, 0x40000003, 1), 0x80000000, 'i386 ABI killed');
  assert.equal(buildSeccompFilter('s390x'), null);
  const a = buildSeccompFilter('arm64');
  assert.ok(a);
  assert.equal(evalSeccomp(a, 0xc00000b7, 280), 0x00050001);
  assert.equal(evalSeccomp(a, 0xc00000b7, 63), 0x7fff0000);
});
