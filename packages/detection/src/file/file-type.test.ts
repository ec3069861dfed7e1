import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { identifyFileType } from './file-type.ts';

const b = (...parts: (string | number[] | Uint8Array)[]): Uint8Array =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const kind = (bytes: Uint8Array): [string, string] => {
  const t = identifyFileType(bytes);
  return [t.kind, t.format];
};

/** A zip local file header for `name` (content empty). */
const zipEntry = (name: string): Uint8Array => {
  const h = Buffer.alloc(30);
  h.write('PK\x03\x04', 0, 'latin1');
  h.writeUInt16LE(name.length, 26);
  return b(h, name);
};

describe('identifyFileType', () => {
  it('ELF: class, endianness, machine and type of /usr/bin/ls', () => {
    const t = identifyFileType(readFileSync('/usr/bin/ls').subarray(0, 65536));
    assert.equal(t.kind, 'elf');
    assert.deepEqual(t.elf, { bits: 64, endian: 'le', machine: 'x86-64', type: 'dyn', pie: true });
    assert.equal(t.description, 'ELF 64-bit LSB x86-64 PIE executable');
  });

  it('ELF: shared object, relocatable, core, 32-bit big-endian', () => {
    const libz = identifyFileType(readFileSync('/usr/lib/x86_64-linux-gnu/libz.so.1').subarray(0, 65536));
    assert.equal(libz.elf?.pie, false);
    assert.match(libz.description, /shared object$/);
    const hdr = (cls: number, data: number, type: number, machine: number): Uint8Array => {
      const h = Buffer.alloc(64);
      h.set([0x7f, 0x45, 0x4c, 0x46, cls, data, 1]);
      if (data === 1) {
        h.writeUInt16LE(type, 16);
        h.writeUInt16LE(machine, 18);
      } else {
        h.writeUInt16BE(type, 16);
        h.writeUInt16BE(machine, 18);
      }
      return h;
    };
    assert.deepEqual(identifyFileType(hdr(2, 1, 1, 183)).elf, { bits: 64, endian: 'le', machine: 'aarch64', type: 'rel' });
    assert.equal(identifyFileType(hdr(2, 1, 4, 62)).elf?.type, 'core');
    assert.deepEqual(identifyFileType(hdr(1, 2, 2, 8)).elf, { bits: 32, endian: 'be', machine: 'mips', type: 'exec' });
    assert.equal(identifyFileType(b('\x7fELF\x09')).description, 'ELF (malformed header)');
  });

  it('PE 32/64, DLL, and a bare MZ', () => {
    const pe = (machine: number, magic: number, chars: number): Uint8Array => {
      const h = Buffer.alloc(0x80 + 26);
      h.write('MZ', 0, 'latin1');
      h.writeUInt32LE(0x80, 0x3c);
      h.write('PE\0\0', 0x80, 'latin1');
      h.writeUInt16LE(machine, 0x84);
      h.writeUInt16LE(chars, 0x80 + 22);
      h.writeUInt16LE(magic, 0x80 + 24);
      return h;
    };
    assert.deepEqual(identifyFileType(pe(0x8664, 0x20b, 0x22)).pe, { bits: 64, machine: 'x86-64', dll: false });
    assert.deepEqual(identifyFileType(pe(0x14c, 0x10b, 0x2102)).pe, { bits: 32, machine: 'x86', dll: true });
    assert.deepEqual(kind(b('MZ', new Uint8Array(100))), ['pe', 'mz']);
  });

  it('Mach-O thin and fat; a Java class is not Mach-O', () => {
    assert.deepEqual(kind(b([0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1])), ['macho', 'macho']);
    assert.deepEqual(kind(b([0xfe, 0xed, 0xfa, 0xce, 0, 0, 0, 18])), ['macho', 'macho']);
    assert.deepEqual(kind(b([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2])), ['macho', 'macho-fat']);
    assert.deepEqual(kind(b([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52])), ['other', 'java-class']);
  });

  it('shebang scripts with their interpreter, through env and with arguments', () => {
    assert.deepEqual(identifyFileType(b('#!/usr/bin/env python3\nprint(1)\n')).script, { interpreter: 'python3', family: 'python', path: '/usr/bin/env', args: [] });
    assert.deepEqual(identifyFileType(b('#!/usr/bin/env -S LANG=C perl -w\n')).script, { interpreter: 'perl', family: 'perl', path: '/usr/bin/env', args: ['-w'] });
    assert.deepEqual(identifyFileType(b('#! /bin/bash -e\r\necho\n')).script, { interpreter: 'bash', family: 'sh', path: '/bin/bash', args: ['-e'] });
    assert.equal(identifyFileType(b('#!/usr/bin/python3.11 -u\n')).script?.family, 'python');
    assert.equal(identifyFileType(b('<?php echo 1; ?>')).script?.family, 'php');
    assert.equal(identifyFileType(readFileSync('/usr/bin/zgrep')).script?.family, 'sh');
  });

  it('archives', () => {
    assert.deepEqual(kind(zipEntry('a.txt')), ['archive', 'zip']);
    assert.deepEqual(kind(zipEntry('META-INF/MANIFEST.MF')), ['archive', 'jar']);
    assert.deepEqual(kind(gzipSync('x')), ['archive', 'gzip']);
    assert.deepEqual(kind(b([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 0])), ['archive', 'xz']);
    assert.deepEqual(kind(b('BZh91AY&SY')), ['archive', 'bzip2']);
    assert.deepEqual(kind(b([0x28, 0xb5, 0x2f, 0xfd, 0])), ['archive', 'zstd']);
    assert.deepEqual(kind(b([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4])), ['archive', '7z']);
    assert.deepEqual(kind(b('Rar!\x1a\x07\x01\x00')), ['archive', 'rar']);
    const tar = Buffer.alloc(1024);
    tar.write('file.txt', 0);
    tar.write('ustar\x0000', 257, 'latin1');
    assert.deepEqual(kind(tar), ['archive', 'tar']);
    assert.deepEqual(kind(b('!<arch>\ndebian-binary   1342943816  0     0     100644  4         `\n')), ['archive', 'deb']);
    assert.deepEqual(kind(b('!<arch>\nfoo.o/          ')), ['archive', 'ar']);
  });

  it('documents: PDF, OLE2, OOXML (docx, xlsx, pptx), RTF', () => {
    assert.deepEqual(kind(b('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n')), ['pdf', 'pdf']);
    assert.deepEqual(kind(b([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], new Uint8Array(504))), ['document', 'ole2']);
    assert.deepEqual(kind(b(zipEntry('[Content_Types].xml'), zipEntry('word/document.xml'))), ['document', 'ooxml-docx']);
    assert.deepEqual(kind(b(zipEntry('[Content_Types].xml'), zipEntry('xl/workbook.xml'))), ['document', 'ooxml-xlsx']);
    assert.deepEqual(kind(b(zipEntry('[Content_Types].xml'), zipEntry('ppt/presentation.xml'))), ['document', 'ooxml-pptx']);
    assert.deepEqual(kind(b('{\\rtf1\\ansi')), ['document', 'rtf']);
  });

  it('images', () => {
    assert.deepEqual(kind(b([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), ['image', 'png']);
    assert.deepEqual(kind(b([0xff, 0xd8, 0xff, 0xe0])), ['image', 'jpeg']);
    assert.deepEqual(kind(b('GIF89a\x01\x00')), ['image', 'gif']);
    assert.deepEqual(kind(b('RIFF\x10\x00\x00\x00WEBPVP8 ')), ['image', 'webp']);
    const bmp = Buffer.alloc(54);
    bmp.write('BM', 0, 'latin1');
    bmp.writeUInt32LE(40, 14);
    assert.deepEqual(kind(bmp), ['image', 'bmp']);
  });

  it('text and other data', () => {
    assert.deepEqual(kind(b('hello world\nsecond line\n')), ['text', 'text']);
    assert.deepEqual(kind(Buffer.from('家守はファイルを守る\n', 'utf8')), ['text', 'text']);
    assert.deepEqual(kind(Buffer.from('家守', 'utf8').subarray(0, 4)), ['text', 'text']); // cut mid-character
    assert.deepEqual(kind(b([0xc3, 0x28, 0x41])), ['other', 'data']); // invalid UTF-8
    assert.deepEqual(kind(b('abc\0def')), ['other', 'data']);
    assert.deepEqual(kind(new Uint8Array(0)), ['other', 'data']);
  });
});
