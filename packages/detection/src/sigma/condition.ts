/**
 * Sigma condition expressions: `and`, `or`, `not`, parentheses, `1 of x*`, `all of x*`,
 * `1 of them`, `all of them` (and `N of`). Precedence: not > and > or. Quantifiers are expanded
 * to the search names they cover when parsing, so the compiler sees only and/or/not/ref.
 */

export type CondNode =
  | { readonly op: 'ref'; readonly name: string }
  | { readonly op: 'and' | 'or'; readonly args: readonly CondNode[] }
  | { readonly op: 'not'; readonly arg: CondNode }
  | { readonly op: 'atleast'; readonly n: number; readonly args: readonly CondNode[] };

export class ConditionError extends Error {}

function tokenize(src: string): string[] {
  if (src.includes('|')) throw new ConditionError(`aggregations ('|' in condition) are not supported: ${src.trim()}`);
  const out: string[] = [];
  const re = /\s*(\(|\)|[^\s()]+)/gy;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = re.exec(src)) !== null) {
    out.push(m[1] as string);
    last = re.lastIndex;
  }
  if (src.slice(last).trim() !== '') throw new ConditionError(`cannot read condition near '${src.slice(last)}'`);
  return out;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Parse a condition against the search names a rule defines. */
export function parseCondition(src: string, searchNames: readonly string[]): CondNode {
  const toks = tokenize(src);
  let i = 0;
  const peek = (): string | undefined => toks[i]?.toLowerCase();
  const next = (): string => {
    const t = toks[i++];
    if (t === undefined) throw new ConditionError(`condition ends too early: ${src}`);
    return t;
  };
  const refs = (pattern: string): CondNode[] => {
    if (pattern === 'them') {
      const names = searchNames.filter((n) => !n.startsWith('_'));
      if (names.length === 0) throw new ConditionError("'them' matches no search");
      return names.map((name) => ({ op: 'ref', name }));
    }
    const re = globToRegExp(pattern);
    const names = searchNames.filter((n) => re.test(n));
    if (names.length === 0) throw new ConditionError(`'${pattern}' matches no search identifier`);
    return names.map((name) => ({ op: 'ref', name }));
  };

  const primary = (): CondNode => {
    const t = next();
    const low = t.toLowerCase();
    if (t === '(') {
      const e = orExpr();
      if (next() !== ')') throw new ConditionError(`missing ')' in condition: ${src}`);
      return e;
    }
    if (t === ')') throw new ConditionError(`unexpected ')' in condition: ${src}`);
    if (low === 'all' || /^\d+$/.test(low)) {
      if (peek() === 'of') {
        i++;
        const args = refs(next());
        if (low === 'all') return args.length === 1 ? (args[0] as CondNode) : { op: 'and', args };
        const n = Number(low);
        if (n < 1) throw new ConditionError(`'${t} of' needs a positive count`);
        if (n === 1) return args.length === 1 ? (args[0] as CondNode) : { op: 'or', args };
        return { op: 'atleast', n, args };
      }
    }
    if (low === 'and' || low === 'or' || low === 'of' || low === 'not') {
      throw new ConditionError(`unexpected '${t}' in condition: ${src}`);
    }
    if (!searchNames.includes(t)) throw new ConditionError(`condition references undefined search '${t}'`);
    return { op: 'ref', name: t };
  };
  const notExpr = (): CondNode => {
    if (peek() === 'not') {
      i++;
      return { op: 'not', arg: notExpr() };
    }
    return primary();
  };
  const andExpr = (): CondNode => {
    const args = [notExpr()];
    while (peek() === 'and') {
      i++;
      args.push(notExpr());
    }
    return args.length === 1 ? (args[0] as CondNode) : { op: 'and', args };
  };
  const orExpr = (): CondNode => {
    const args = [andExpr()];
    while (peek() === 'or') {
      i++;
      args.push(andExpr());
    }
    return args.length === 1 ? (args[0] as CondNode) : { op: 'or', args };
  };
  const e = orExpr();
  if (i < toks.length) throw new ConditionError(`unexpected '${toks[i] ?? ''}' in condition: ${src}`);
  return e;
}
