/**
 * What can be detonated, decided by content (never by the file name or the submitter's claim):
 * ELF executables for this machine, and shell / Python / Perl scripts with a shebang.
 */

export type SampleClass =
  | { ok: true; kind: 'elf'; machine: number }
  | { ok: true; kind: 'script'; interpreter: string; language: 'shell' | 'python' | 'perl' }
  | { ok: false; reason: string };

const ELF_MACHINES: Record<string, number> = { x64: 0x3e, arm64: 0xb7, ia32: 0x03, arm: 0x28, riscv64: 0xf3 };

const LANGUAGES: [RegExp, 'shell' | 'python' | 'perl'][] = [
  [/^(?:sh|bash|dash|ash|ksh|mksh|zsh|busybox)$/, 'shell'],
  [/^python(?:[23](?:\.\d+)?)?$/, 'python'],
  [/^perl(?:5(?:\.\d+)*)?$/, 'perl'],
];

export function classifySample(bytes: Uint8Array, arch: string = process.arch): SampleClass {
  if (bytes.length === 0) return { ok: false, reason: 'empty file' };
  if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    if (bytes.length < 20) return { ok: false, reason: 'truncated ELF header' };
    const little = bytes[5] === 1;
    const machine = little
      ? (bytes[18] ?? 0) | ((bytes[19] ?? 0) << 8)
      : ((bytes[18] ?? 0) << 8) | (bytes[19] ?? 0);
    const type = little ? (bytes[16] ?? 0) : (bytes[17] ?? 0);
    if (type !== 2 && type !== 3) return { ok: false, reason: `ELF type ${type} is not an executable` };
    const here = ELF_MACHINES[arch];
    if (here !== undefined && machine !== here) {
      return {
        ok: false,
        reason: `ELF for machine 0x${machine.toString(16)} cannot run on this ${arch} worker`,
      };
    }
    return { ok: true, kind: 'elf', machine };
  }
  if (bytes[0] === 0x23 && bytes[1] === 0x21) {
    const end = bytes.indexOf(0x0a);
    const line = Buffer.from(bytes.subarray(2, end < 0 ? Math.min(bytes.length, 256) : Math.min(end, 256)))
      .toString('latin1')
      .trim();
    const words = line.split(/\s+/).filter((w) => w !== '');
    let interp = words[0] ?? '';
    if (/(?:^|\/)env$/.test(interp)) interp = words.slice(1).find((w) => !w.startsWith('-')) ?? '';
    const base = interp.split('/').pop() ?? '';
    for (const [re, language] of LANGUAGES) {
      if (re.test(base)) return { ok: true, kind: 'script', interpreter: interp, language };
    }
    return {
      ok: false,
      reason: `script interpreter "${base || '(none)'}" is not supported (shell, Python, Perl)`,
    };
  }
  return { ok: false, reason: 'not an ELF executable or a shell/Python/Perl script with a #! line' };
}
