import type { DiffEntry } from '@yamori/protocol';

/** Structural diff of two JSON values as path → before/after; arrays of objects with `id` are matched by id. */
export function jsonDiff(before: unknown, after: unknown, path = ''): DiffEntry[] {
  if (Object.is(before, after)) return [];
  if (Array.isArray(before) && Array.isArray(after)) {
    const byId = (xs: unknown[]) =>
      xs.every((x) => isObj(x) && typeof x['id'] === 'string') ? new Map(xs.map((x) => [(x as { id: string }).id, x])) : null;
    const a = byId(before);
    const b = byId(after);
    if (a && b) {
      const out: DiffEntry[] = [];
      for (const [id, v] of a) out.push(...jsonDiff(v, b.get(id), `${path}[id=${id}]`));
      for (const [id, v] of b) if (!a.has(id)) out.push({ path: `${path}[id=${id}]`, before: undefined, after: v });
      return out;
    }
    if (JSON.stringify(before) === JSON.stringify(after)) return [];
    return [{ path: path || '/', before, after }];
  }
  if (isObj(before) && isObj(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].sort().flatMap((k) => jsonDiff(before[k], after[k], `${path}/${k}`));
  }
  return [{ path: path || '/', before, after }];
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
