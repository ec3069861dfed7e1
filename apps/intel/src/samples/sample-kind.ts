import type { SampleKind } from '@yamori/protocol';

/**
 * Which samples the sandbox detonates: ELF executables and scripts. The declared kind must match
 * the content (an "elf" must start with the ELF magic). Pure.
 */
export function decideKind(declared: string | undefined, head: Uint8Array): { ok: true; kind: SampleKind } | { ok: false; reason: string } {
  const isElf = head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
  const hasShebang = head.length >= 2 && head[0] === 0x23 && head[1] === 0x21;
  if (declared === undefined || declared === '') {
    if (isElf) return { ok: true, kind: 'elf' };
    if (hasShebang) return { ok: true, kind: 'script' };
    return { ok: false, reason: 'only ELF executables and scripts are accepted: the file is neither (send x-yamori-kind: script for a script without #!)' };
  }
  if (declared === 'elf') return isElf ? { ok: true, kind: 'elf' } : { ok: false, reason: 'declared kind elf, but the file does not start with the ELF magic' };
  if (declared === 'script') {
    if (isElf) return { ok: false, reason: 'declared kind script, but the file is an ELF executable' };
    if (head.subarray(0, 4096).includes(0)) return { ok: false, reason: 'declared kind script, but the file is binary' };
    return { ok: true, kind: 'script' };
  }
  return { ok: false, reason: `kind "${declared}" is not accepted: only elf and script samples are detonated (documents and other types are never uploaded)` };
}
