// The fs-backed ByteReader: the only file in this folder that touches the disk. The agent opens the
// file it is deciding about (by path or by the fd fanotify hands it) and passes the reader to the
// pure engines.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { ByteReader } from './byte-reader.ts';

export interface FileReader extends ByteReader {
  /** File mode bits (st_mode), for setuid/setgid findings. */
  readonly mode: number;
  close(): void;
}

/** Wraps an open file descriptor; the caller keeps ownership of `fd` (close() does not close it). */
export function fdReader(fd: number): FileReader {
  const st = fstatSync(fd);
  return {
    size: st.size,
    mode: st.mode,
    read(offset, length) {
      if (offset < 0 || length <= 0 || offset >= st.size) return new Uint8Array(0);
      const buf = Buffer.allocUnsafe(Math.min(length, st.size - offset));
      let done = 0;
      while (done < buf.length) {
        const n = readSync(fd, buf, done, buf.length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return buf.subarray(0, done);
    },
    close() {},
  };
}

/** Opens `path` read-only; call close() when done. */
export function openFileReader(path: string): FileReader {
  const fd = openSync(path, 'r');
  try {
    const r = fdReader(fd);
    return { size: r.size, mode: r.mode, read: (o, l) => r.read(o, l), close: () => closeSync(fd) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
