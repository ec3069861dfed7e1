import { readFileSync } from 'node:fs';
import { BUILTIN_WARNINGLISTS, createWarninglist, parseMispWarninglist, type Warninglist } from './warninglist.ts';

/** The built-in warninglist plus MISP warninglist JSON files (a bad file stops the start with its name). */
export function loadWarninglist(files: readonly string[]): Warninglist {
  const specs = [...BUILTIN_WARNINGLISTS];
  for (const f of files) {
    try {
      specs.push(parseMispWarninglist(JSON.parse(readFileSync(f, 'utf8'))));
    } catch (e) {
      throw new Error(`warninglist ${f}: ${(e as Error).message}`, { cause: e });
    }
  }
  return createWarninglist(specs);
}
