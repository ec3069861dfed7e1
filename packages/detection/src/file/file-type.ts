// File type by content, never by name: the exec decision, the upload policy (`FileKind`) and the
// reports all ask this one function. It looks only at the first bytes it is given (HEAD_BYTES is
// enough for everything it knows; OOXML detection looks for part names in that window).
import type { FileKind } from '@yamori/protocol';

/** How many leading bytes callers should pass to identifyFileType. */
export const HEAD_BYTES = 64 * 1024;

export type ElfType = 'rel' | 'exec' | 'dyn' | 'core' | 'other';

export interface ElfIdent {
  bits: 32 | 64;
  endian: 'le' | 'be';
  /** e_machine as a name (`x86-64`, `aarch64`…) or `machine-<n>`. */
  machine: string;
  type: ElfType;
  /** For `dyn`: true when it has a PT_INTERP (a PIE executable), false for a shared library;
   * undefined when the program headers lie outside the bytes given. */
  pie?: boolean;
}

export interface ScriptIdent {
  /** Interpreter program name, resolved through `env` (`python3`, `bash`). */
  interpreter: string;
  /** Interpreter family (`python`, `sh`, `perl`…), for choosing language rules. */
  family: string;
  /** The path in the shebang (`/usr/bin/env` when env is used). */
  path: string;
  args: string[];
}

export interface FileType {
  kind: FileKind;
  /** Precise format: `elf`, `pe32`, `pe32+`, `macho-fat`, `zip`, `ooxml-docx`, `ole2`, `png`… */
  format: string;
  /** One line for reports: "ELF 64-bit LSB x86-64 PIE executable". */
  description: string;
  elf?: ElfIdent;
  pe?: { bits: 32 | 64; machine: string; dll: boolean };
  script?: ScriptIdent;
}

const ELF_MACHINES: Record<number, string> = {
  2: 'sparc', 3: 'x86', 4: 'm68k', 8: 'mips', 20: 'ppc', 21: 'ppc64', 22: 's390', 40: 'arm', 42: 'sh',
  43: 'sparcv9', 50: 'ia64', 62: 'x86-64', 183: 'aarch64', 243: 'riscv', 258: 'loongarch',
};
const PE_MACHINES: Record<number, string> = {
  0x14c: 'x86', 0x8664: 'x86-64', 0x1c0: 'arm', 0x1c4: 'armnt', 0xaa64: 'arm64', 0x200: 'ia64',
};

const startsWith = (b: Uint8Array, sig: readonly number[], at = 0): boolean =>
  b.length >= at + sig.length && sig.every((v, i) => b[at + i] === v);
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

export function elfMachineName(m: number): string {
  return ELF_MACHINES[m] ?? `machine-${m}`;
}

/** Identifies a file from its first bytes (pass at least HEAD_BYTES when the file is that long). */
export function identifyFileType(bytes: Uint8Array): FileType {
  const b = bytes;
  if (startsWith(b, [0x7f, 0x45, 0x4c, 0x46])) return identifyElf(b);
  if (startsWith(b, ascii('MZ'))) return identifyPe(b);
  const macho = identifyMacho(b);
  if (macho) return macho;
  if (startsWith(b, ascii('#!'))) return identifyShebang(b);
  if (startsWith(b, ascii('%PDF-')) || latin1(b.subarray(0, 1024)).includes('%PDF-'))
    return { kind: 'pdf', format: 'pdf', description: 'PDF document' };
  if (startsWith(b, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]))
    return { kind: 'document', format: 'ole2', description: 'OLE2 compound file (legacy Office, MSI)' };
  if (startsWith(b, ascii('{\\rtf'))) return { kind: 'document', format: 'rtf', description: 'RTF document' };
  if (startsWith(b, [0x50, 0x4b]) && (b[2] === 3 || b[2] === 5 || b[2] === 7)) return identifyZip(b);
  const archive = identifyArchive(b);
  if (archive) return archive;
  const image = identifyImage(b);
  if (image) return image;
  return identifyText(b);
}

function identifyElf(b: Uint8Array): FileType {
  const cls = b[4];
  const data = b[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2) || b.length < (cls === 1 ? 52 : 64)) {
    return { kind: 'elf', format: 'elf', description: 'ELF (malformed header)' };
  }
  const bits = cls === 1 ? 32 : 64;
  const le = data === 1;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const eType = v.getUint16(16, le);
  const machine = elfMachineName(v.getUint16(18, le));
  const type: ElfType = eType === 1 ? 'rel' : eType === 2 ? 'exec' : eType === 3 ? 'dyn' : eType === 4 ? 'core' : 'other';
  const elf: ElfIdent = { bits, endian: le ? 'le' : 'be', machine, type };
  if (type === 'dyn') {
    const phoff = bits === 64 ? Number(v.getBigUint64(32, le)) : v.getUint32(28, le);
    const phentsize = v.getUint16(bits === 64 ? 54 : 42, le);
    const phnum = v.getUint16(bits === 64 ? 56 : 44, le);
    if (phentsize >= (bits === 64 ? 56 : 32) && phnum <= 256 && phoff + phnum * phentsize <= b.length) {
      let pie = false;
      for (let i = 0; i < phnum; i++) if (v.getUint32(phoff + i * phentsize, le) === 3) pie = true;
      elf.pie = pie;
    }
  }
  const what =
    type === 'dyn' ? (elf.pie === true ? 'PIE executable' : elf.pie === false ? 'shared object' : 'shared object or PIE')
    : type === 'exec' ? 'executable' : type === 'rel' ? 'relocatable' : type === 'core' ? 'core file' : `type ${eType}`;
  return { kind: 'elf', format: 'elf', description: `ELF ${bits}-bit ${le ? 'LSB' : 'MSB'} ${machine} ${what}`, elf };
}

function identifyPe(b: Uint8Array): FileType {
  const dos: FileType = { kind: 'pe', format: 'mz', description: 'MS-DOS executable' };
  if (b.length < 0x40) return dos;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const lfanew = v.getUint32(0x3c, true);
  if (lfanew + 26 > b.length || !startsWith(b, [0x50, 0x45, 0, 0], lfanew)) return dos;
  const machine = PE_MACHINES[v.getUint16(lfanew + 4, true)] ?? `machine-0x${v.getUint16(lfanew + 4, true).toString(16)}`;
  const dll = (v.getUint16(lfanew + 22, true) & 0x2000) !== 0;
  const magic = lfanew + 26 <= b.length ? v.getUint16(lfanew + 24, true) : 0;
  const bits = magic === 0x20b ? 64 : 32;
  return {
    kind: 'pe',
    format: bits === 64 ? 'pe32+' : 'pe32',
    description: `PE${bits === 64 ? '32+' : '32'} ${machine} ${dll ? 'DLL' : 'executable'}`,
    pe: { bits, machine, dll },
  };
}

function identifyMacho(b: Uint8Array): FileType | undefined {
  if (b.length < 8) return undefined;
  const be32 = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  if (be32 === 0xfeedface || be32 === 0xcefaedfe) return { kind: 'macho', format: 'macho', description: 'Mach-O 32-bit' };
  if (be32 === 0xfeedfacf || be32 === 0xcffaedfe) return { kind: 'macho', format: 'macho', description: 'Mach-O 64-bit' };
  if (be32 === 0xcafebabe || be32 === 0xcafebabf) {
    // Java class files share 0xcafebabe; there the next word is the class version (≥ 45), while a
    // fat Mach-O holds its architecture count (a handful).
    const n = ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0;
    if (n >= 1 && n <= 30) return { kind: 'macho', format: 'macho-fat', description: `Mach-O universal binary (${n} architectures)` };
    return { kind: 'other', format: 'java-class', description: 'Java class file' };
  }
  return undefined;
}

const FAMILIES: [RegExp, string][] = [
  [/^(?:ba|da|k|z|a|mk|pdk|y|bu)?sh$|^busybox$/, 'sh'],
  [/^python(?:\d+(?:\.\d+)*)?$|^pypy\d*$/, 'python'],
  [/^perl(?:\d[\d.]*)?$/, 'perl'],
  [/^ruby(?:\d[\d.]*)?$/, 'ruby'],
  [/^php(?:\d[\d.]*)?(?:-cli)?$/, 'php'],
  [/^(?:node|nodejs|deno|bun)$/, 'node'],
  [/^lua(?:jit|\d[\d.]*)?$/, 'lua'],
  [/^(?:g|m|n)?awk$/, 'awk'],
  [/^(?:t?csh|fish)$/, 'sh'],
];

/** Maps an interpreter name to its language family (`python3.11` → `python`). */
export function interpreterFamily(name: string): string {
  for (const [re, fam] of FAMILIES) if (re.test(name)) return fam;
  return name;
}

function identifyShebang(b: Uint8Array): FileType {
  // The kernel reads at most 256 bytes of the #! line (BINPRM_BUF_SIZE).
  const head = latin1(b.subarray(2, 256));
  const line = (head.split('\n')[0] ?? '').replace(/\r$/, '').trim();
  const words = line.split(/[ \t]+/).filter((w) => w.length > 0);
  const path = words[0] ?? '';
  let args = words.slice(1);
  let program = path.slice(path.lastIndexOf('/') + 1);
  if (program === 'env') {
    // `/usr/bin/env [-S] [-i] [NAME=value…] prog args`: skip env's own options and assignments.
    while (args.length > 0 && (args[0]!.startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(args[0]!))) args = args.slice(1);
    const prog = args[0] ?? 'env';
    program = prog.slice(prog.lastIndexOf('/') + 1);
    args = args.slice(1);
  }
  const family = interpreterFamily(program);
  return {
    kind: 'script',
    format: `script-${family}`,
    description: `${program || 'unknown'} script`,
    script: { interpreter: program, family, path, args },
  };
}

function identifyZip(b: Uint8Array): FileType {
  const s = latin1(b);
  if (s.includes('[Content_Types].xml') || /\b(?:word|xl|ppt)\/[\w.[\]-]+\.xml/.test(s)) {
    const sub = s.includes('word/') ? 'docx' : s.includes('xl/') ? 'xlsx' : s.includes('ppt/') ? 'pptx' : 'ooxml';
    return { kind: 'document', format: `ooxml-${sub}`, description: `Office Open XML document (${sub})` };
  }
  if (s.slice(30, 38) === 'mimetype' && s.includes('application/vnd.oasis.opendocument'))
    return { kind: 'document', format: 'odf', description: 'OpenDocument file' };
  if (s.includes('META-INF/MANIFEST.MF')) return { kind: 'archive', format: 'jar', description: 'Java archive (zip)' };
  if (s.includes('AndroidManifest.xml')) return { kind: 'archive', format: 'apk', description: 'Android package (zip)' };
  return { kind: 'archive', format: 'zip', description: 'Zip archive' };
}

const ARCHIVES: [number[], number, string, string][] = [
  [[0x1f, 0x8b], 0, 'gzip', 'gzip compressed data'],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 0, 'xz', 'xz compressed data'],
  [ascii('BZh'), 0, 'bzip2', 'bzip2 compressed data'],
  [[0x28, 0xb5, 0x2f, 0xfd], 0, 'zstd', 'Zstandard compressed data'],
  [[0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], 0, '7z', '7-Zip archive'],
  [ascii('Rar!\x1a\x07'), 0, 'rar', 'RAR archive'],
  [[0x04, 0x22, 0x4d, 0x18], 0, 'lz4', 'LZ4 compressed data'],
  [ascii('070701'), 0, 'cpio', 'cpio archive'],
  [ascii('070707'), 0, 'cpio', 'cpio archive'],
  [[0xed, 0xab, 0xee, 0xdb], 0, 'rpm', 'RPM package'],
  [ascii('ustar'), 257, 'tar', 'tar archive'],
];

function identifyArchive(b: Uint8Array): FileType | undefined {
  if (startsWith(b, ascii('!<arch>\n'))) {
    return startsWith(b, ascii('debian-binary'), 8)
      ? { kind: 'archive', format: 'deb', description: 'Debian binary package' }
      : { kind: 'archive', format: 'ar', description: 'ar archive' };
  }
  for (const [sig, at, format, description] of ARCHIVES) if (startsWith(b, sig, at)) return { kind: 'archive', format, description };
  return undefined;
}

function identifyImage(b: Uint8Array): FileType | undefined {
  const img = (format: string, description: string): FileType => ({ kind: 'image', format, description });
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return img('png', 'PNG image');
  if (startsWith(b, [0xff, 0xd8, 0xff])) return img('jpeg', 'JPEG image');
  if (startsWith(b, ascii('GIF87a')) || startsWith(b, ascii('GIF89a'))) return img('gif', 'GIF image');
  if (startsWith(b, ascii('RIFF')) && startsWith(b, ascii('WEBP'), 8)) return img('webp', 'WebP image');
  if (startsWith(b, ascii('II*\0')) || startsWith(b, ascii('MM\0*'))) return img('tiff', 'TIFF image');
  if (startsWith(b, [0, 0, 1, 0]) && b.length >= 6 && b[4]! + b[5]! * 256 > 0 && b[4]! + b[5]! * 256 < 256)
    return img('ico', 'Windows icon');
  if (startsWith(b, ascii('BM')) && b.length >= 18) {
    // BMP: reserved words are zero and the DIB header size is one of the known ones.
    const dib = b[14]! | (b[15]! << 8);
    if (b[6] === 0 && b[7] === 0 && b[8] === 0 && b[9] === 0 && [12, 40, 52, 56, 64, 108, 124].includes(dib))
      return img('bmp', 'BMP image');
  }
  return undefined;
}

/** Whether the bytes look like text: valid UTF-8 (a cut last character allowed), no NUL, few controls. */
export function looksLikeText(b: Uint8Array): boolean {
  if (b.length === 0) return false;
  let controls = 0;
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c === 0) return false;
    if (c < 0x80) {
      if (c < 0x20 && c !== 9 && c !== 10 && c !== 13 && c !== 12 && c !== 27) controls++;
      i++;
      continue;
    }
    const n = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 && c < 0xe0 ? 1 : -1;
    if (n < 0) return false;
    for (let k = 1; k <= n; k++) {
      if (i + k >= b.length) return controls <= b.length / 50; // cut at the window's end
      if ((b[i + k]! & 0xc0) !== 0x80) return false;
    }
    i += n + 1;
  }
  return controls <= b.length / 50;
}

function identifyText(b: Uint8Array): FileType {
  if (startsWith(b, [0xef, 0xbb, 0xbf]) || looksLikeText(b)) {
    const s = latin1(b.subarray(0, 256)).replace(/^\xef\xbb\xbf/, '').trimStart();
    if (s.startsWith('<?php'))
      return { kind: 'script', format: 'script-php', description: 'PHP script', script: { interpreter: 'php', family: 'php', path: '', args: [] } };
    return { kind: 'text', format: 'text', description: 'UTF-8 text' };
  }
  if (startsWith(b, [0xff, 0xfe]) || startsWith(b, [0xfe, 0xff])) return { kind: 'text', format: 'utf16', description: 'UTF-16 text' };
  return { kind: 'other', format: 'data', description: b.length === 0 ? 'empty' : 'data' };
}
