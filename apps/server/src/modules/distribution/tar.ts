// The tar format (POSIX ustar, with pax records for long names), as far as an agent package
// needs it: regular files, directories and symbolic links, owned by root. Pure: headers are
// built from the entry alone, so the same inputs give the same bytes.

export interface TarEntry {
  /** Path inside the archive, relative, '/'-separated; directories without a trailing slash. */
  path: string;
  type: 'file' | 'directory' | 'symlink';
  /** Permission bits (0o755, 0o644). */
  mode: number;
  /** Bytes of content (files only; 0 otherwise). */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Target of a symlink. */
  linkname?: string;
}

const BLOCK = 512;
/** Two zero blocks end an archive. */
export const TAR_END: Buffer = Buffer.alloc(2 * BLOCK);

const TYPEFLAG = { file: '0', directory: '5', symlink: '2' } as const;

function put(buf: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar field too long (${bytes.length} > ${length}): ${value}`);
  bytes.copy(buf, offset);
}

function octal(value: number, length: number): string {
  const s = Math.trunc(value).toString(8);
  if (s.length > length - 1) throw new Error(`tar number too large: ${value}`);
  return `${s.padStart(length - 1, '0')}\0`;
}

function ustarHeader(o: { name: string; typeflag: string; mode: number; size: number; mtime: number; linkname: string }): Buffer {
  const h = Buffer.alloc(BLOCK);
  put(h, 0, 100, o.name);
  put(h, 100, 8, octal(o.mode, 8));
  put(h, 108, 8, octal(0, 8)); // uid root
  put(h, 116, 8, octal(0, 8)); // gid root
  put(h, 124, 12, octal(o.size, 12));
  put(h, 136, 12, octal(o.mtime, 12));
  put(h, 148, 8, ' '.repeat(8)); // checksum counts as spaces while summed
  put(h, 156, 1, o.typeflag);
  put(h, 157, 100, o.linkname);
  put(h, 257, 6, 'ustar\0');
  put(h, 263, 2, '00');
  put(h, 265, 32, 'root');
  put(h, 297, 32, 'root');
  let sum = 0;
  for (const b of h) sum += b;
  put(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** One pax record: "LEN key=value\n", where LEN counts the whole record including itself. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body);
  let length = bodyLength + 1;
  while (bodyLength + String(length).length !== length) length = bodyLength + String(length).length;
  return `${length}${body}`;
}

/** Zero bytes that pad `size` bytes of content to a whole block. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/**
 * The header block(s) of one entry: a pax extended header first when the path or link target
 * does not fit the ustar fields (100 bytes), then the ustar header. Content and padding follow.
 */
export function tarHeader(e: TarEntry): Buffer {
  if (e.path === '' || e.path.startsWith('/') || e.path.split('/').includes('..')) throw new Error(`unsafe tar path: ${e.path}`);
  const name = e.type === 'directory' ? `${e.path}/` : e.path;
  const linkname = e.linkname ?? '';
  const size = e.type === 'file' ? e.size : 0;
  const records = [
    ...(Buffer.byteLength(name) > 100 ? [paxRecord('path', name)] : []),
    ...(Buffer.byteLength(linkname) > 100 ? [paxRecord('linkpath', linkname)] : []),
  ].join('');
  const main = ustarHeader({
    // readers that know pax take the name from the record; the ustar field keeps its tail
    name: records.includes(' path=') ? name.replace(/[^\x20-\x7e]/g, '_').slice(-99) : name,
    typeflag: TYPEFLAG[e.type],
    mode: e.mode,
    size,
    mtime: e.mtime,
    linkname: records.includes(' linkpath=') ? '' : linkname,
  });
  if (!records) return main;
  const body = Buffer.from(records, 'utf8');
  const pax = ustarHeader({ name: 'PaxHeader', typeflag: 'x', mode: 0o644, size: body.length, mtime: e.mtime, linkname: '' });
  return Buffer.concat([pax, body, tarPadding(body.length), main]);
}
