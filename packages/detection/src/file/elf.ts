// Static analysis of an ELF file: headers, segments, sections, imports, strings and entropy, turned
// into findings for the verdict and numeric features for the anomaly model.
//
// Everything is bounded: tables are read up to fixed counts, string tables up to fixed sizes, the
// string/entropy scan up to SCAN_BYTES, and every read and loop step goes through a Budget. Hostile
// input (wrong offsets, huge counts, truncation) yields an `elf.malformed` or `elf.unparseable`
// finding, never an exception.
import { Budget, BudgetExceededError, type ByteReader, type WorkCounter } from './byte-reader.ts';
import { addToHistogram, entropy, histogramEntropy } from './entropy.ts';
import { findBase64Blob } from './blobs.ts';
import { finding, printable, type Finding } from './finding.ts';
import { elfMachineName, type ElfIdent, type ElfType } from './file-type.ts';

/** Caps on what one analysis reads; the defaults suit the exec path. */
export interface ElfLimits {
  maxSegments: number;
  maxSections: number;
  maxSymbols: number;
  maxDynamicEntries: number;
  /** Largest string table (.shstrtab, .dynstr) read. */
  maxStringTableBytes: number;
  /** Bytes of the file scanned for strings and whole-file entropy (sampled evenly past this). */
  scanBytes: number;
  /** Bytes sampled per section for its entropy, and in total for all sections. */
  sectionEntropyBytes: number;
  sectionEntropyTotalBytes: number;
  /** Hard limits enforced by the Budget (tests assert the work counter stays under them). */
  maxBytesRead: number;
  maxSteps: number;
}

export const DEFAULT_ELF_LIMITS: Readonly<ElfLimits> = Object.freeze({
  maxSegments: 128,
  maxSections: 1024,
  maxSymbols: 32768,
  maxDynamicEntries: 1024,
  maxStringTableBytes: 1 << 20,
  scanBytes: 8 << 20,
  sectionEntropyBytes: 64 << 10,
  sectionEntropyTotalBytes: 4 << 20,
  maxBytesRead: 24 << 20,
  maxSteps: 200_000,
});

export interface ElfSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
}

export interface ElfSection {
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  /** Bits per byte over a sample of the section; absent for NOBITS/empty/out-of-file sections. */
  entropy?: number;
}

export type ElfRole = 'executable' | 'shared-library' | 'relocatable' | 'core' | 'other';
export type ElfLinking = 'dynamic' | 'static' | 'static-pie' | 'none';

export interface ElfAnalysis {
  /** False when the header could not be parsed at all (`elf.unparseable`). */
  parsed: boolean;
  ident?: ElfIdent;
  role: ElfRole;
  linking: ElfLinking;
  entry: number;
  interpreter?: string;
  /** No .symtab section. */
  stripped: boolean;
  segmentCount: number;
  sectionCount: number;
  segments: ElfSegment[];
  sections: ElfSection[];
  needed: string[];
  rpath: string[];
  /** Imported (undefined) dynamic symbols, sorted, capped. */
  imports: string[];
  fileEntropy: number;
  findings: Finding[];
  features: ElfFeatures;
  work: WorkCounter;
}

export interface ElfOptions {
  /** st_mode of the file, for setuid/setgid. */
  mode?: number;
  limits?: Partial<ElfLimits>;
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PT_GNU_STACK = 0x6474e551;
const PF_X = 1;
const PF_W = 2;
const SHT_SYMTAB = 2;
const SHT_NOBITS = 8;
const SHT_DYNSYM = 11;
const SHF_EXECINSTR = 4;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const DT_FLAGS_1 = 0x6ffffffb;
const DF_1_PIE = 0x08000000;

/** Thresholds and weights of the ELF findings, in one place for tuning (see verdict.ts for the scale). */
export const ELF_WEIGHTS = Object.freeze({
  upx: 45,
  packedEntropy: 30,
  noSectionTable: 15,
  entryOutsideSections: 20,
  entryOutsideSegments: 10,
  writableExecutableSegment: 20,
  execStack: 10,
  staticStripped: 5,
  setuid: 10,
  setgid: 5,
  malformed: 20,
  unparseable: 20,
  insecureRpath: 10,
  miningPool: 45,
  minerName: 25,
  devTcp: 25,
  interactiveShell: 20,
  ldSoPreload: 15,
  ldPreload: 3,
  base64Blob: 10,
  ptrace: 8,
  filelessExec: 15,
  kernelModule: 10,
});

/** A whole file above this many bits per byte is compressed or encrypted as a whole. */
export const PACKED_FILE_ENTROPY = 7.2;
/** An executable section above this is compressed or encrypted code. */
export const PACKED_SECTION_ENTROPY = 7.4;
/** Minimal size of an executable section for its entropy to count. */
const PACKED_SECTION_MIN_BYTES = 4096;

/** Numeric features for the anomaly model, in a fixed order (ELF_FEATURE_NAMES). */
export type ElfFeatures = Record<(typeof ELF_FEATURE_NAMES)[number], number>;
export const ELF_FEATURE_NAMES = [
  'log2Size',
  'fileEntropy',
  'maxExecSectionEntropy',
  'textEntropy',
  'sectionCount',
  'segmentCount',
  'loadSegmentCount',
  'importCount',
  'neededCount',
  'dynamic',
  'stripped',
  'noSectionTable',
  'wxSegment',
  'execStack',
  'entryOutsideSections',
  'execBytesRatio',
  'suspiciousStringCount',
] as const;

interface Ctx {
  b: Budget;
  lim: ElfLimits;
  le: boolean;
  is64: boolean;
  problems: string[];
  /** Tables longer than the caps (not a defect: large legitimate files hit them). */
  capped: string[];
}

function emptyFeatures(): ElfFeatures {
  return Object.fromEntries(ELF_FEATURE_NAMES.map((n) => [n, 0])) as ElfFeatures;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Reads an address/offset-sized field as a number (huge values stay huge, which every bound check rejects). */
function word(v: DataView, off: number, c: Ctx): number {
  return c.is64 ? Number(v.getBigUint64(off, c.le)) : v.getUint32(off, c.le);
}

function cstring(bytes: Uint8Array, at: number, max: number): string {
  if (at < 0 || at >= bytes.length) return '';
  let end = at;
  const limit = Math.min(bytes.length, at + max);
  while (end < limit && bytes[end] !== 0) end++;
  return Buffer.from(bytes.buffer, bytes.byteOffset + at, end - at).toString('latin1');
}

/**
 * Reads a table of `count` entries of `entsize` bytes at `offset`, capped at `max` entries and at
 * the end of the file. Returns the bytes and how many whole entries they hold.
 */
function readTable(c: Ctx, what: string, offset: number, entsize: number, minEnt: number, count: number, max: number): { bytes: Uint8Array; n: number } {
  const none = { bytes: new Uint8Array(0), n: 0 };
  if (count === 0) return none;
  if (entsize < minEnt || entsize > 4096) {
    c.problems.push(`${what}: bad entry size ${entsize}`);
    return none;
  }
  if (!(offset < c.b.size)) {
    c.problems.push(`${what}: table offset ${offset} beyond end of file`);
    return none;
  }
  if (count > max) c.capped.push(`${what}: ${count} entries, read the first ${max}`);
  const want = Math.min(count, max) * entsize;
  const bytes = c.b.read(offset, want);
  const n = Math.floor(bytes.length / entsize);
  if (bytes.length < want) c.problems.push(`${what}: table truncated (${n} of ${Math.min(count, max)} entries in file)`);
  return { bytes, n };
}

/** Analyzes an ELF file. Never throws on file content; `reader` errors (I/O) propagate. */
export function analyzeElf(reader: ByteReader, options: ElfOptions = {}): ElfAnalysis {
  const lim: ElfLimits = { ...DEFAULT_ELF_LIMITS, ...options.limits };
  const b = new Budget(reader, { maxBytes: lim.maxBytesRead, maxSteps: lim.maxSteps });
  const out: ElfAnalysis = {
    parsed: false,
    role: 'other',
    linking: 'none',
    entry: 0,
    stripped: true,
    segmentCount: 0,
    sectionCount: 0,
    segments: [],
    sections: [],
    needed: [],
    rpath: [],
    imports: [],
    fileEntropy: 0,
    findings: [],
    features: emptyFeatures(),
    work: b.work,
  };
  try {
    parse(b, lim, options, out);
  } catch (err) {
    if (err instanceof BudgetExceededError) {
      out.findings.push(finding('elf.analysis-truncated', 0, 'info', 'Analysis stopped at its work limit; results are partial.', err.message));
    } else if (err instanceof RangeError || err instanceof TypeError) {
      // A bound check missed by the parser: report it as malformed rather than crash the exec path.
      out.findings.push(finding('elf.malformed', ELF_WEIGHTS.malformed, 'medium', 'The ELF structure is inconsistent.', err.message));
    } else {
      throw err;
    }
  }
  return out;
}

function parse(b: Budget, lim: ElfLimits, options: ElfOptions, out: ElfAnalysis): void {
  const head = b.read(0, 64);
  const unparseable = (why: string): void => {
    out.findings.push(finding('elf.unparseable', ELF_WEIGHTS.unparseable, 'medium', 'The file claims to be ELF but its header cannot be parsed.', why));
  };
  if (head.length < 16 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) return unparseable('no ELF magic');
  const cls = head[4];
  const data = head[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) return unparseable(`bad class ${cls} or data encoding ${data}`);
  const c: Ctx = { b, lim, le: data === 1, is64: cls === 2, problems: [], capped: [] };
  if (head.length < (c.is64 ? 64 : 52)) return unparseable('header truncated');
  const v = view(head);
  const eType = v.getUint16(16, c.le);
  const type: ElfType = eType === 1 ? 'rel' : eType === 2 ? 'exec' : eType === 3 ? 'dyn' : eType === 4 ? 'core' : 'other';
  const ident: ElfIdent = { bits: c.is64 ? 64 : 32, endian: c.le ? 'le' : 'be', machine: elfMachineName(v.getUint16(18, c.le)), type };
  const entry = word(v, 24, c);
  const phoff = word(v, c.is64 ? 32 : 28, c);
  const shoff = word(v, c.is64 ? 40 : 32, c);
  const o = c.is64 ? 52 : 40;
  const phentsize = v.getUint16(o + 2, c.le);
  const phnum = v.getUint16(o + 4, c.le);
  const shentsize = v.getUint16(o + 6, c.le);
  let shnum = v.getUint16(o + 8, c.le);
  let shstrndx = v.getUint16(o + 10, c.le);
  out.parsed = true;
  out.ident = ident;
  out.entry = entry;
  out.role = type === 'exec' ? 'executable' : type === 'rel' ? 'relocatable' : type === 'core' ? 'core' : type === 'dyn' ? 'shared-library' : 'other';

  // --- program headers
  const ph = readTable(c, 'program headers', phoff, phentsize, c.is64 ? 56 : 32, phnum, lim.maxSegments);
  const pv = view(ph.bytes);
  for (let i = 0; i < ph.n; i++) {
    b.step();
    const at = i * phentsize;
    const seg: ElfSegment = c.is64
      ? { type: pv.getUint32(at, c.le), flags: pv.getUint32(at + 4, c.le), offset: word(pv, at + 8, c), vaddr: word(pv, at + 16, c), filesz: word(pv, at + 32, c), memsz: word(pv, at + 40, c) }
      : { type: pv.getUint32(at, c.le), offset: pv.getUint32(at + 4, c.le), vaddr: pv.getUint32(at + 8, c.le), filesz: pv.getUint32(at + 16, c.le), memsz: pv.getUint32(at + 20, c.le), flags: pv.getUint32(at + 24, c.le) };
    out.segments.push(seg);
  }
  out.segmentCount = phnum;
  const loads = out.segments.filter((s) => s.type === PT_LOAD);
  for (const s of out.segments) {
    if (s.type === PT_LOAD && s.filesz > 0 && s.offset + s.filesz > b.size) c.problems.push(`PT_LOAD at ${s.offset}+${s.filesz} beyond end of file`);
  }
  const interp = out.segments.find((s) => s.type === PT_INTERP);
  if (interp) {
    const bytes = b.read(interp.offset, Math.min(interp.filesz, 4096));
    if (bytes.length === 0) c.problems.push('PT_INTERP outside the file');
    else out.interpreter = printable(cstring(bytes, 0, 4096), 4096);
  }
  const dyn = out.segments.find((s) => s.type === PT_DYNAMIC);
  const wx = loads.filter((s) => (s.flags & PF_W) !== 0 && (s.flags & PF_X) !== 0);
  const stack = out.segments.find((s) => s.type === PT_GNU_STACK);
  const execStack = stack !== undefined && (stack.flags & PF_X) !== 0;

  // --- dynamic section (needed libraries, rpath, PIE flag); works without a section table
  let pieFlag = false;
  if (dyn) {
    const entsize = c.is64 ? 16 : 8;
    const t = readTable(c, 'dynamic section', dyn.offset, entsize, entsize, Math.floor(dyn.filesz / entsize), lim.maxDynamicEntries);
    const dv = view(t.bytes);
    const tags: [number, number][] = [];
    for (let i = 0; i < t.n; i++) {
      b.step();
      const tag = word(dv, i * entsize, c);
      if (tag === 0) break;
      tags.push([tag, word(dv, i * entsize + entsize / 2, c)]);
    }
    const strtabAddr = tags.find(([t2]) => t2 === DT_STRTAB)?.[1];
    const strsz = tags.find(([t2]) => t2 === DT_STRSZ)?.[1] ?? 0;
    const flags1 = tags.find(([t2]) => t2 === DT_FLAGS_1)?.[1] ?? 0;
    pieFlag = (flags1 & DF_1_PIE) !== 0;
    const strOff = strtabAddr === undefined ? undefined : vaddrToOffset(loads, strtabAddr);
    if (strOff !== undefined) {
      const strtab = b.read(strOff, Math.min(strsz || lim.maxStringTableBytes, lim.maxStringTableBytes));
      for (const [tag, val] of tags) {
        if (tag === DT_NEEDED && out.needed.length < 256) out.needed.push(printable(cstring(strtab, val, 256), 256));
        if ((tag === DT_RPATH || tag === DT_RUNPATH) && out.rpath.length < 16) out.rpath.push(printable(cstring(strtab, val, 1024), 1024));
      }
    } else if (tags.some(([t2]) => t2 === DT_NEEDED)) {
      c.problems.push('DT_STRTAB not inside any loaded segment');
    }
  }
  out.linking = type === 'rel' || type === 'core' ? 'none' : interp ? 'dynamic' : dyn ? (type === 'dyn' && !pieFlag ? 'dynamic' : 'static-pie') : 'static';
  if (type === 'dyn' && (interp || pieFlag)) out.role = 'executable';

  // --- section headers
  if (shoff !== 0 && shnum === 0 && shentsize >= (c.is64 ? 64 : 40)) {
    // Extended numbering: the real count (and string index) live in section 0.
    const s0 = b.read(shoff, shentsize);
    if (s0.length >= (c.is64 ? 64 : 40)) {
      const sv = view(s0);
      shnum = c.is64 ? Number(sv.getBigUint64(32, c.le)) : sv.getUint32(20, c.le);
      if (shstrndx === 0xffff) shstrndx = sv.getUint32(c.is64 ? 40 : 24, c.le);
    }
  }
  out.sectionCount = shnum;
  const sh = shoff === 0 ? { bytes: new Uint8Array(0), n: 0 } : readTable(c, 'section headers', shoff, shentsize, c.is64 ? 64 : 40, shnum, lim.maxSections);
  const sv = view(sh.bytes);
  const raw: (ElfSection & { nameOff: number; link: number })[] = [];
  for (let i = 0; i < sh.n; i++) {
    b.step();
    const at = i * shentsize;
    raw.push(
      c.is64
        ? { name: '', nameOff: sv.getUint32(at, c.le), type: sv.getUint32(at + 4, c.le), flags: word(sv, at + 8, c), addr: word(sv, at + 16, c), offset: word(sv, at + 24, c), size: word(sv, at + 32, c), link: sv.getUint32(at + 40, c.le) }
        : { name: '', nameOff: sv.getUint32(at, c.le), type: sv.getUint32(at + 4, c.le), flags: sv.getUint32(at + 8, c.le), addr: sv.getUint32(at + 12, c.le), offset: sv.getUint32(at + 16, c.le), size: sv.getUint32(at + 20, c.le), link: sv.getUint32(at + 24, c.le) },
    );
  }
  if (raw.length > 0) {
    const strSec = raw[shstrndx];
    if (strSec && strSec.type !== SHT_NOBITS) {
      const names = b.read(strSec.offset, Math.min(strSec.size, lim.maxStringTableBytes));
      if (names.length === 0 && strSec.size > 0) c.problems.push('section name table outside the file');
      for (const s of raw) s.name = printable(cstring(names, s.nameOff, 64), 64);
    } else if (shstrndx !== 0) {
      c.problems.push(`section name table index ${shstrndx} invalid`);
    }
    for (const s of raw) {
      if (s.type !== SHT_NOBITS && s.type !== 0 && s.size > 0 && s.offset + s.size > b.size) c.problems.push(`section ${s.name || '?'} extends beyond end of file`);
    }
  }
  out.stripped = !raw.some((s) => s.type === SHT_SYMTAB);

  // --- per-section entropy (sampled)
  let entropyLeft = lim.sectionEntropyTotalBytes;
  for (const s of raw) {
    b.step();
    if (s.type === SHT_NOBITS || s.type === 0 || s.size === 0 || s.offset + s.size > b.size || entropyLeft <= 0) continue;
    const sample = sampleRange(b, s.offset, s.size, Math.min(lim.sectionEntropyBytes, entropyLeft));
    entropyLeft -= sample.length;
    s.entropy = entropy(sample);
  }
  out.sections = raw.map(({ nameOff: _n, link: _l, ...s }) => s);

  // --- imported dynamic symbols
  const dynsym = raw.find((s) => s.type === SHT_DYNSYM);
  if (dynsym) {
    const strSec = raw[dynsym.link];
    const symsize = c.is64 ? 24 : 16;
    const strtab = strSec ? b.read(strSec.offset, Math.min(strSec.size, lim.maxStringTableBytes)) : new Uint8Array(0);
    const t = readTable(c, 'dynamic symbols', dynsym.offset, symsize, symsize, Math.floor(dynsym.size / symsize), lim.maxSymbols);
    const yv = view(t.bytes);
    const imports = new Set<string>();
    for (let i = 1; i < t.n; i++) {
      b.step();
      const at = i * symsize;
      const shndx = yv.getUint16(at + (c.is64 ? 6 : 14), c.le);
      const info = yv.getUint8(at + (c.is64 ? 4 : 12));
      if (shndx !== 0 || info >> 4 === 0) continue; // defined here, or local
      const name = cstring(strtab, yv.getUint32(at, c.le), 128);
      if (name && imports.size < 4096) imports.add(printable(name, 128));
    }
    out.imports = [...imports].sort();
  }

  // --- whole-file scan: entropy and suspicious strings
  const hits = scanFile(b, lim);
  out.fileEntropy = hits.entropy;

  // --- findings
  const f = out.findings;
  const isProgram = out.role === 'executable';
  const upxSections = out.sections.filter((s) => /^(?:UPX\d|\.upx)/i.test(s.name)).map((s) => s.name);
  if (hits.upxMagic || upxSections.length > 0) {
    f.push(finding('elf.packer.upx', ELF_WEIGHTS.upx, 'high', 'Packed with UPX: the real code is compressed and only unpacked in memory, which hides it from static analysis and signatures.', [hits.upxMagic, ...upxSections].filter(Boolean).join(', ')));
  }
  const execSecs = out.sections.filter((s) => (s.flags & SHF_EXECINSTR) !== 0 && s.type !== SHT_NOBITS);
  const maxExecEntropy = Math.max(0, ...execSecs.filter((s) => s.size >= PACKED_SECTION_MIN_BYTES).map((s) => s.entropy ?? 0));
  const fewSections = out.sections.length <= 3;
  if ((hits.entropy >= PACKED_FILE_ENTROPY && fewSections && b.size >= PACKED_SECTION_MIN_BYTES) || maxExecEntropy >= PACKED_SECTION_ENTROPY) {
    f.push(finding('elf.packer.entropy', ELF_WEIGHTS.packedEntropy, 'medium', 'Most of the file is compressed or encrypted (high entropy), a sign of a packer or an encrypted payload.', `file ${hits.entropy.toFixed(2)} bits/byte, executable sections max ${maxExecEntropy.toFixed(2)}`));
  }
  if (isProgram && shoff === 0 && out.sectionCount === 0) {
    f.push(finding('elf.no-section-table', ELF_WEIGHTS.noSectionTable, 'medium', 'The program has no section table; compilers always write one, packers and hand-made loaders remove it.'));
  }
  if (isProgram && entry !== 0) {
    if (execSecs.length > 0 && !execSecs.some((s) => s.addr <= entry && entry < s.addr + s.size)) {
      f.push(finding('elf.entry-outside-sections', ELF_WEIGHTS.entryOutsideSections, 'medium', 'The entry point is outside every code section, as in packed or infected programs.', `entry 0x${entry.toString(16)}`));
    }
    if (loads.length > 0 && !loads.some((s) => (s.flags & PF_X) !== 0 && s.vaddr <= entry && entry < s.vaddr + s.memsz)) {
      f.push(finding('elf.entry-outside-segments', ELF_WEIGHTS.entryOutsideSegments, 'medium', 'The entry point is not in any executable segment.', `entry 0x${entry.toString(16)}`));
    }
  }
  if (wx.length > 0) {
    f.push(finding('elf.segment.wx', ELF_WEIGHTS.writableExecutableSegment, 'medium', 'A loaded segment is both writable and executable, which self-modifying code and unpackers need.', wx.map((s) => `0x${s.vaddr.toString(16)}+0x${s.memsz.toString(16)}`).join(', ')));
  }
  if (execStack) f.push(finding('elf.exec-stack', ELF_WEIGHTS.execStack, 'low', 'The program asks for an executable stack.'));
  if (isProgram && out.linking === 'static' && out.stripped) {
    f.push(finding('elf.static-stripped', ELF_WEIGHTS.staticStripped, 'low', 'Statically linked and stripped: self-contained with no symbols, common for dropped tools.'));
  }
  const insecure = out.rpath.filter((r) => r.split(':').some((p) => p === '' || p === '.' || /^(?:\/tmp|\/var\/tmp|\/dev\/shm)(?:\/|$)/.test(p) || (!p.startsWith('/') && !p.startsWith('$ORIGIN'))));
  if (insecure.length > 0) {
    f.push(finding('elf.rpath.insecure', ELF_WEIGHTS.insecureRpath, 'medium', 'Libraries are searched in a relative or world-writable directory (RPATH/RUNPATH).', insecure.join(', ')));
  }
  const mode = options.mode ?? 0;
  if ((mode & 0o4000) !== 0) f.push(finding('elf.setuid', ELF_WEIGHTS.setuid, 'medium', 'The file is setuid: it runs with its owner\'s privileges.'));
  if ((mode & 0o2000) !== 0) f.push(finding('elf.setgid', ELF_WEIGHTS.setgid, 'low', 'The file is setgid: it runs with its group\'s privileges.'));
  for (const h of hits.findings) f.push(h);
  const imp = new Set(out.imports);
  if (imp.has('ptrace')) f.push(finding('elf.import.ptrace', ELF_WEIGHTS.ptrace, 'low', 'Imports ptrace: can attach to, read and inject into other processes.'));
  if (imp.has('memfd_create') && (imp.has('fexecve') || imp.has('execveat'))) {
    f.push(finding('elf.import.fileless-exec', ELF_WEIGHTS.filelessExec, 'medium', 'Imports memfd_create with fexecve/execveat: can run a program that never touches the disk.'));
  }
  if (imp.has('init_module') || imp.has('finit_module')) f.push(finding('elf.import.kernel-module', ELF_WEIGHTS.kernelModule, 'medium', 'Imports init_module: can load kernel modules.'));
  if (c.capped.length > 0) {
    f.push(finding('elf.analysis-capped', 0, 'info', 'Some tables were larger than the analysis reads; the rest was skipped.', c.capped.slice(0, 3).join('; ')));
  }
  if (c.problems.length > 0) {
    f.push(finding('elf.malformed', ELF_WEIGHTS.malformed, 'medium', 'The ELF structure is inconsistent (tables outside the file, bad sizes); loaders may read it differently than analysis tools.', c.problems.slice(0, 5).join('; ')));
  }

  const text = out.sections.find((s) => s.name === '.text');
  const execBytes = loads.filter((s) => (s.flags & PF_X) !== 0).reduce((n, s) => n + Math.min(s.filesz, b.size), 0);
  Object.assign(out.features, {
    log2Size: Math.log2(Math.max(1, b.size)),
    fileEntropy: hits.entropy,
    maxExecSectionEntropy: maxExecEntropy,
    textEntropy: text?.entropy ?? 0,
    sectionCount: out.sections.length,
    segmentCount: out.segments.length,
    loadSegmentCount: loads.length,
    importCount: out.imports.length,
    neededCount: out.needed.length,
    dynamic: out.linking === 'dynamic' ? 1 : 0,
    stripped: out.stripped ? 1 : 0,
    noSectionTable: out.sections.length === 0 ? 1 : 0,
    wxSegment: wx.length > 0 ? 1 : 0,
    execStack: execStack ? 1 : 0,
    entryOutsideSections: f.some((x) => x.id === 'elf.entry-outside-sections') ? 1 : 0,
    execBytesRatio: b.size > 0 ? Math.min(1, execBytes / b.size) : 0,
    suspiciousStringCount: hits.findings.length,
  } satisfies ElfFeatures);
}

function vaddrToOffset(loads: ElfSegment[], addr: number): number | undefined {
  const s = loads.find((l) => l.vaddr <= addr && addr < l.vaddr + l.filesz);
  return s ? addr - s.vaddr + s.offset : undefined;
}

/** Reads up to `max` bytes of [offset, offset+size) as up to 4 evenly spaced pieces. */
function sampleRange(b: Budget, offset: number, size: number, max: number): Uint8Array {
  if (size <= max) return b.read(offset, size);
  const pieces = 4;
  const piece = Math.floor(max / pieces);
  const out = new Uint8Array(piece * pieces);
  let n = 0;
  for (let i = 0; i < pieces; i++) {
    const at = offset + Math.floor(((size - piece) * i) / (pieces - 1));
    const chunk = b.read(at, piece);
    out.set(chunk, n);
    n += chunk.length;
  }
  return out.subarray(0, n);
}

const BASE64_MIN_RUN = 512;

interface StringRule {
  id: string;
  re: RegExp;
  weight: number;
  severity: 'low' | 'medium' | 'high';
  message: string;
}

/** Patterns searched in the raw bytes (read as latin1). Tuned against /usr/bin and /usr/lib. */
export const ELF_STRING_RULES: readonly StringRule[] = [
  { id: 'elf.strings.mining-pool', re: /stratum\+(?:tcp|ssl|tls):\/\/|(?:supportxmr\.com|minexmr\.com|nanopool\.org|moneroocean\.stream|hashvault\.pro|c3pool\.com|xmrpool\.eu|herominers\.com|unmineable\.com|minergate\.com|dwarfpool\.com|2miners\.com|f2pool\.com|nicehash\.com)/i, weight: ELF_WEIGHTS.miningPool, severity: 'high', message: 'Contains a cryptocurrency mining-pool address (stratum URL or known pool domain).' },
  { id: 'elf.strings.miner', re: /\bxmrig\b|cryptonight|randomx|--donate-level/i, weight: ELF_WEIGHTS.minerName, severity: 'medium', message: 'Contains names or options of cryptocurrency miners (XMRig, CryptoNight, RandomX).' },
  { id: 'elf.strings.dev-tcp', re: /\/dev\/(?:tcp|udp)\/[\w.-]+\/\d/, weight: ELF_WEIGHTS.devTcp, severity: 'medium', message: 'Contains a bash /dev/tcp network redirection, a reverse-shell idiom.' },
  { id: 'elf.strings.interactive-shell', re: /\/bin\/(?:ba)?sh -i\b/, weight: ELF_WEIGHTS.interactiveShell, severity: 'medium', message: 'Starts an interactive shell (`/bin/sh -i`), typical of reverse shells and backdoors.' },
  { id: 'elf.strings.ld-so-preload', re: /\/etc\/ld\.so\.preload/, weight: ELF_WEIGHTS.ldSoPreload, severity: 'medium', message: 'Refers to /etc/ld.so.preload, which userland rootkits write to inject into every process.' },
  { id: 'elf.strings.ld-preload', re: /LD_PRELOAD=/, weight: ELF_WEIGHTS.ldPreload, severity: 'low', message: 'Sets LD_PRELOAD for a child process (library injection).' },
  { id: 'elf.strings.base64-blob', re: /[A-Za-z0-9+/]{512}/, weight: ELF_WEIGHTS.base64Blob, severity: 'low', message: 'Contains a long base64 blob, often an embedded payload or configuration.' },
];

const UPX_MAGIC = /UPX!|\$Info: This file is packed with the UPX/;

interface ScanResult {
  entropy: number;
  upxMagic: string;
  findings: Finding[];
}

/**
 * One pass over the file (whole when ≤ scanBytes, else evenly spaced 1 MiB chunks): byte histogram
 * for the whole-file entropy and the string rules. Chunks overlap by 512 bytes so no match is cut.
 */
function scanFile(b: Budget, lim: ElfLimits): ScanResult {
  const CHUNK = 1 << 20;
  const OVERLAP = 512;
  const size = b.size;
  const hist = new Float64Array(256);
  const starts: number[] = [];
  if (size <= lim.scanBytes) for (let at = 0; at < size; at += CHUNK) starts.push(at);
  else {
    const n = Math.max(1, Math.floor(lim.scanBytes / CHUNK));
    for (let i = 0; i < n; i++) starts.push(Math.floor(((size - CHUNK) * i) / Math.max(1, n - 1)));
  }
  const matched = new Map<string, string>();
  let upxMagic = '';
  for (const at of starts) {
    b.step();
    const chunk = b.read(at, CHUNK + OVERLAP);
    addToHistogram(hist, chunk.subarray(0, CHUNK));
    const s = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    for (const rule of ELF_STRING_RULES) {
      if (matched.has(rule.id)) continue;
      b.step();
      const m = rule.id === 'elf.strings.base64-blob' ? findBase64Blob(s, BASE64_MIN_RUN) : rule.re.exec(s)?.[0];
      if (m) matched.set(rule.id, m);
    }
    if (!upxMagic && (at === starts[0] || at + CHUNK >= size)) {
      // UPX writes its l_info right after the program headers and its PackHeader at the very end.
      const m = UPX_MAGIC.exec(s.slice(0, 4096)) ?? UPX_MAGIC.exec(s.slice(Math.max(0, Math.min(s.length, size - at) - 4096)));
      if (m) upxMagic = m[0].slice(0, 40);
    }
  }
  const findings = ELF_STRING_RULES.filter((r) => matched.has(r.id)).map((r) => finding(r.id, r.weight, r.severity, r.message, (matched.get(r.id) ?? '').slice(0, 80)));
  return { entropy: histogramEntropy(hist), upxMagic, findings };
}
