// Hostile input: real binaries mutated by a seeded mutator (byte flips, truncation, inserted
// blocks, huge counts and offsets in the headers and section table). The analysis must never
// throw and must stay within its work budget (asserted on the work counter, not on time).
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { bufferReader } from './byte-reader.ts';
import { analyzeFile } from './analyze-file.ts';
import { analyzeElf, DEFAULT_ELF_LIMITS } from './elf.ts';
import { identifyFileType } from './file-type.ts';
import { analyzeScript } from './script.ts';
import { buildTestBinaries, type TestBinaries } from './test-binaries.ts';


/** mulberry32: a small seeded PRNG so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HUGE = [0xffff_ffff_ffff_ffffn, 0x7fff_ffff_ffff_ffffn, 0xffff_ffffn, 0x8000_0000n, 0n, 1n];

function mutate(base: Buffer, rand: () => number): Buffer {
  const int = (n: number): number => Math.floor(rand() * n);
  let b = Buffer.from(base);
  const rounds = 1 + int(4);
  for (let r = 0; r < rounds; r++) {
    const shoff = b.length >= 64 ? Number(b.readBigUInt64LE(40) & 0xffff_ffffn) : 0;
    const shnum = b.length >= 64 ? b.readUInt16LE(60) : 0;
    switch (int(6)) {
      case 0: // flip bytes, half the time in the headers
        for (let i = 0, n = 1 + int(32); i < n && b.length > 0; i++) b[rand() < 0.5 ? int(Math.min(b.length, 4096)) : int(b.length)]! ^= 1 << int(8);
        break;
      case 1: // truncate
        b = b.subarray(0, int(b.length + 1));
        break;
      case 2: // insert a random block (shifts every later offset)
        {
          const at = int(b.length + 1);
          const block = Buffer.alloc(1 + int(512), int(256));
          b = Buffer.concat([b.subarray(0, at), block, b.subarray(at)]);
        }
        break;
      case 3: // huge or odd header counts and sizes
        if (b.length >= 64) {
          const field = [52, 54, 56, 58, 60, 62][int(6)]!;
          b.writeUInt16LE([0xffff, 0, 1, 0x8000, int(0x10000)][int(5)]!, field);
        }
        break;
      case 4: // huge header offsets / entry
        if (b.length >= 64) b.writeBigUInt64LE(rand() < 0.5 ? HUGE[int(HUGE.length)]! : BigInt(int(b.length * 2)), [24, 32, 40][int(3)]!);
        break;
      case 5: // a section header's offset, size or link made huge
        if (shnum > 0 && shoff + shnum * 64 <= b.length) {
          const at = shoff + int(shnum) * 64 + [24, 32, 40, 56][int(4)]!;
          if (at + 8 <= b.length) b.writeBigUInt64LE(rand() < 0.7 ? HUGE[int(HUGE.length)]! : BigInt(int(b.length * 2)), at);
        }
        break;
    }
  }
  return b;
}

describe('fuzzing the ELF analysis with mutated real binaries', () => {
  let bins: TestBinaries;
  before(() => {
    bins = buildTestBinaries();
  });
  after(() => rmSync(bins.dir, { recursive: true, force: true }));

  // 410 mutants in all; fewer of the 900 KB static binary, whose every mutant is scanned in full.
  const bases = [['/usr/bin/true', () => '/usr/bin/true', 200], ['/bin/ls', () => '/bin/ls', 150], ['gcc static', () => bins.staticHello, 60]] as const;
  for (const [label, path, iterations] of bases) {
    it(`${label}: ${iterations} mutants never throw and stay within the work budget`, () => {
      const base = readFileSync(path());
      let malformed = 0;
      let maxBytes = 0;
      let maxSteps = 0;
      for (let i = 0; i < iterations; i++) {
        const seed = 0x5eed0000 + i;
        const mutant = mutate(base, rng(seed));
        let a: ReturnType<typeof analyzeElf>;
        try {
          a = analyzeElf(bufferReader(mutant), { mode: 0o4755 });
          analyzeFile(bufferReader(mutant));
        } catch (err) {
          assert.fail(`seed ${seed}: threw ${String(err)}`);
        }
        assert.ok(a.work.bytesRead <= DEFAULT_ELF_LIMITS.maxBytesRead, `seed ${seed}: read ${a.work.bytesRead}`);
        assert.ok(a.work.steps <= DEFAULT_ELF_LIMITS.maxSteps, `seed ${seed}: ${a.work.steps} steps`);
        // Reading more than a few times the file means a loop re-reads: the bound we care about.
        assert.ok(a.work.bytesRead <= 3 * mutant.length + 64 * 1024, `seed ${seed}: read ${a.work.bytesRead} of a ${mutant.length}-byte file`);
        if (a.findings.some((f) => f.id === 'elf.malformed' || f.id === 'elf.unparseable')) malformed++;
        maxBytes = Math.max(maxBytes, a.work.bytesRead);
        maxSteps = Math.max(maxSteps, a.work.steps);
      }
      assert.ok(malformed > 0, 'the mutator should produce some malformed files');
      console.log(`# ${label}: ${malformed}/${iterations} reported malformed; max ${maxBytes} bytes read, ${maxSteps} steps`);
    });
  }

  it('a huge declared table is capped, not allocated', () => {
    const b = Buffer.from(readFileSync('/usr/bin/true'));
    b.writeUInt16LE(0xffff, 56); // phnum
    b.writeUInt16LE(0xffff, 60); // shnum
    b.writeUInt16LE(4096, 58); // shentsize
    const a = analyzeElf(bufferReader(b));
    assert.ok(a.segments.length <= DEFAULT_ELF_LIMITS.maxSegments);
    assert.ok(a.sections.length <= DEFAULT_ELF_LIMITS.maxSections);
    assert.ok(a.work.bytesRead <= 3 * b.length + 64 * 1024);
  });

  it('identifyFileType and analyzeScript accept any input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const t = identifyFileType(bytes);
        assert.ok(typeof t.kind === 'string');
      }),
      { numRuns: 300, seed: 42 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 4096 }), fc.constantFrom('bash', 'python3', 'perl', ''), (text, interp) => {
        analyzeScript(text, interp);
      }),
      { numRuns: 200, seed: 42 },
    );
  });
});
