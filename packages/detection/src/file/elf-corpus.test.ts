// The false-positive guard: a fixed sample of 200 real ELF files from this machine's /usr must
// not score suspicious, and none may look malformed to the parser.
import assert from 'node:assert/strict';
import { lstatSync, readdirSync } from 'node:fs';
import { it } from 'node:test';
import { scoreFile } from './analyze-file.ts';
import { openFileReader } from './file-reader.ts';

const SAMPLE = 200;
const DIRS = ['/usr/bin', '/usr/lib/x86_64-linux-gnu'];

function elfFiles(): string[] {
  const out: string[] = [];
  for (const d of DIRS) {
    for (const name of readdirSync(d).sort()) {
      const p = `${d}/${name}`;
      const st = lstatSync(p);
      if (!st.isFile() || st.size < 64) continue;
      const r = openFileReader(p);
      const magic = r.read(0, 4);
      r.close();
      if (magic[0] === 0x7f && magic[1] === 0x45 && magic[2] === 0x4c && magic[3] === 0x46) out.push(p);
    }
  }
  return out;
}

it(`none of ${SAMPLE} real ELF files from /usr is suspicious or malformed`, (t) => {
  const all = elfFiles();
  assert.ok(all.length >= SAMPLE, `only ${all.length} ELF files found`);
  // An evenly spread, deterministic sample across both directories.
  const sample = Array.from({ length: SAMPLE }, (_, i) => all[Math.floor((i * all.length) / SAMPLE)]!);
  const bad: string[] = [];
  const seen = new Map<string, number>();
  for (const p of sample) {
    const r = openFileReader(p);
    try {
      const s = scoreFile(r, { mode: r.mode });
      for (const x of s.reasons) seen.set(x.id, (seen.get(x.id) ?? 0) + 1);
      const malformed = s.reasons.some((x) => x.id === 'elf.malformed' || x.id === 'elf.unparseable');
      if (s.verdict !== 'unknown' || malformed) bad.push(`${p}: ${s.verdict} ${s.score} ${s.reasons.map((x) => x.id).join(',')}`);
    } finally {
      r.close();
    }
  }
  t.diagnostic(`${all.length} ELF files, ${sample.length} sampled; findings seen: ${JSON.stringify(Object.fromEntries(seen))}`);
  assert.deepEqual(bad, []);
});
