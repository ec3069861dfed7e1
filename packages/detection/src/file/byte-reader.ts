// The one way the file engines see bytes: a size and a bounded random read. Callers pass a file
// handle (see file-reader.ts) or a Buffer; the engines never load a whole 100 MB file, and every
// read goes through a Budget so hostile headers cannot make them read or loop without end.

/** Random access to a file's bytes. `read` may return fewer bytes than asked at the end of file. */
export interface ByteReader {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

/** A reader over bytes already in memory. */
export function bufferReader(bytes: Uint8Array): ByteReader {
  return {
    size: bytes.length,
    read(offset, length) {
      if (!(offset >= 0) || !(length > 0) || offset >= bytes.length) return new Uint8Array(0);
      return bytes.subarray(offset, Math.min(bytes.length, offset + length));
    },
  };
}

/** Thrown inside an analysis when its work budget is spent; analyses catch it and report a finding. */
export class BudgetExceededError extends Error {
  override name = 'BudgetExceededError';
}

/** Work done by one analysis: bytes read and loop steps (sections, segments, symbols, regex scans…). */
export interface WorkCounter {
  bytesRead: number;
  steps: number;
}

export interface BudgetLimits {
  /** Most bytes one analysis may read from the file. */
  maxBytes: number;
  /** Most loop steps one analysis may take. */
  maxSteps: number;
}

/** Counts work and refuses to go past the limits: the bound that tests assert on. */
export class Budget {
  readonly limits: BudgetLimits;
  readonly work: WorkCounter = { bytesRead: 0, steps: 0 };
  readonly #reader: ByteReader;

  constructor(reader: ByteReader, limits: BudgetLimits) {
    this.#reader = reader;
    this.limits = limits;
  }

  get size(): number {
    return this.#reader.size;
  }

  /** Reads at most `length` bytes at `offset`, clamped to the file; never more than the budget left. */
  read(offset: number, length: number): Uint8Array {
    const size = this.#reader.size;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= size || !(length > 0)) return new Uint8Array(0);
    const n = Math.min(Math.floor(length), size - offset);
    if (this.work.bytesRead + n > this.limits.maxBytes) throw new BudgetExceededError('read budget spent');
    this.work.bytesRead += n;
    return this.#reader.read(offset, n);
  }

  /** Bytes still allowed to be read. */
  get bytesLeft(): number {
    return this.limits.maxBytes - this.work.bytesRead;
  }

  step(n = 1): void {
    this.work.steps += n;
    if (this.work.steps > this.limits.maxSteps) throw new BudgetExceededError('step budget spent');
  }
}
