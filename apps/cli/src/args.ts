import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Prints a usage problem and returns exit code 2 (the convention for bad command lines). */
export function usageError(message: string): number {
  console.error(message);
  return 2;
}

/** parseArgs in strict mode; unknown flags or missing values become a clear message instead of a stack trace. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  try {
    return { ok: true as const, ...parseArgs({ args, options, strict: true, allowPositionals }) };
  } catch (e) {
    return { ok: false as const, error: (e as Error).message };
  }
}

export function intArg(value: string | undefined, name: string, dflt: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number (got "${value}")`);
  return n;
}
