import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { bufferReader } from './byte-reader.ts';
import { analyzeElf } from './elf.ts';
import { scoreFile } from './analyze-file.ts';
import type { FileTrust } from './verdict.ts';
import { openFileReader } from './file-reader.ts';
import { buildTestBinaries, type TestBinaries } from './test-binaries.ts';

const ids = (fs: { id: string }[]): string[] => fs.map((f) => f.id);

function scorePath(path: string, trust?: FileTrust) {
  const r = openFileReader(path);
  try {
    return scoreFile(r, trust ? { mode: r.mode, trust } : { mode: r.mode });
  } finally {
    r.close();
  }
}

describe('analyzeElf on real and gcc-built binaries', () => {
  let bins: TestBinaries;
  before(() => {
    bins = buildTestBinaries();
  });
  after(() => rmSync(bins.dir, { recursive: true, force: true }));

  it('parses /usr/bin/ls: PIE, dynamic, interpreter, needed libraries, imports', () => {
    const r = openFileReader('/usr/bin/ls');
    const a = analyzeElf(r);
    r.close();
    assert.equal(a.parsed, true);
    assert.deepEqual(a.ident, { bits: 64, endian: 'le', machine: 'x86-64', type: 'dyn' });
    assert.equal(a.role, 'executable');
    assert.equal(a.linking, 'dynamic');
    assert.match(a.interpreter ?? '', /ld-linux-x86-64\.so\.2$/);
    assert.ok(a.needed.includes('libc.so.6'));
    assert.ok(a.imports.includes('__libc_start_main'));
    assert.ok(a.sections.some((s) => s.name === '.text' && s.entropy !== undefined && s.entropy > 4));
    assert.ok(a.fileEntropy > 4 && a.fileEntropy < 7);
    assert.deepEqual(ids(a.findings), []);
  });

  it('/usr/bin/ls is not suspicious; with its package digest matching it is benign', () => {
    assert.equal(scorePath('/usr/bin/ls').verdict, 'unknown');
    const owned = scorePath('/usr/bin/ls', { package: { name: 'coreutils', digestMatches: true } });
    assert.equal(owned.verdict, 'benign');
    const modified = scorePath('/usr/bin/ls', { package: { name: 'coreutils', digestMatches: false } });
    assert.deepEqual(ids(modified.reasons), ['trust.package.modified']);
  });

  it('a static stripped hello is static and stripped but not suspicious', () => {
    const s = scorePath(bins.staticHello);
    assert.equal(s.analysis.elf?.linking, 'static');
    assert.equal(s.analysis.elf?.stripped, true);
    assert.deepEqual(ids(s.reasons), ['elf.static-stripped']);
    assert.equal(s.verdict, 'unknown');
  });

  it('a dynamic hello with symbols has no findings', () => {
    const s = scorePath(bins.dynamicHello);
    assert.equal(s.analysis.elf?.stripped, false);
    assert.deepEqual(s.reasons, []);
  });

  it('a binary carrying a stratum URL and a /dev/tcp reverse shell is suspicious, with both reasons', () => {
    const s = scorePath(bins.staticMiner);
    assert.equal(s.verdict, 'suspicious');
    assert.ok(ids(s.reasons).includes('elf.strings.mining-pool'));
    assert.ok(ids(s.reasons).includes('elf.strings.dev-tcp'));
    assert.match(s.reasons.find((r) => r.id === 'elf.strings.mining-pool')?.evidence ?? '', /stratum\+tcp:\/\//);
  });

  it('a UPX-packed binary is suspicious with the packer among its reasons', (t) => {
    t.diagnostic(`packed by: ${bins.upxHow}`);
    const s = scorePath(bins.upxPacked);
    assert.equal(s.verdict, 'suspicious');
    assert.ok(s.score >= 40);
    assert.ok(ids(s.reasons).includes('elf.packer.upx'), ids(s.reasons).join(','));
    assert.ok(ids(s.reasons).includes('elf.no-section-table'));
    assert.ok((s.analysis.elf?.fileEntropy ?? 0) > 7.2);
  });

  it('reports setuid and setgid from the mode the caller passes', () => {
    const a = analyzeElf(bufferReader(readFileSync(bins.dynamicHello)), { mode: 0o106755 });
    assert.deepEqual(ids(a.findings), ['elf.setuid', 'elf.setgid']);
  });

  it('reads a 32-bit big-endian header', () => {
    const h = Buffer.alloc(52);
    h.set([0x7f, 0x45, 0x4c, 0x46, 1, 2, 1]);
    h.writeUInt16BE(2, 16); // exec
    h.writeUInt16BE(8, 18); // mips
    h.writeUInt16BE(52, 40);
    const a = analyzeElf(bufferReader(h));
    assert.deepEqual(a.ident, { bits: 32, endian: 'be', machine: 'mips', type: 'exec' });
    assert.equal(a.linking, 'static');
  });

  it('does not throw on hostile headers: reports unparseable or malformed', () => {
    assert.deepEqual(ids(analyzeElf(bufferReader(Buffer.from('\x7fELF'))).findings), ['elf.unparseable']);
    assert.deepEqual(ids(analyzeElf(bufferReader(Buffer.from('MZ not elf'))).findings), ['elf.unparseable']);
    const bytes = Buffer.from(readFileSync(bins.dynamicHello));
    bytes.writeBigUInt64LE(0xffff_ffff_ffff_0000n, 32); // phoff far beyond the file
    bytes.writeUInt16LE(0xffff, 60); // shnum huge
    const a = analyzeElf(bufferReader(bytes));
    assert.ok(ids(a.findings).includes('elf.malformed'));
  });
});
