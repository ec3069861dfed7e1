/**
 * SigmaRule → CompiledRule: one closure per rule (no eval), built once, plus the prefilter
 * literals the engine indexes. A rule that cannot be compiled yields a RuleError with its line.
 */
import { ConditionError, parseCondition, type CondNode } from './condition.ts';
import type { EventView } from './event-view.ts';
import { CATEGORY_MAPS, resolveLogsource, type Category } from './field-map.ts';
import { CompileError, compileKeywords, compileLeaf, type CompiledKeywords, type CompiledLeaf, type Need } from './matchers.ts';
import type { RuleError, RuleMatch, SigmaRule } from './types.ts';

export type CompiledSearch =
  | { readonly kind: 'fields'; readonly alternatives: readonly (readonly CompiledLeaf[])[]; readonly test: Pred; readonly need: Need | null }
  | { readonly kind: 'keywords'; readonly keywords: CompiledKeywords; readonly test: Pred; readonly need: Need | null };

type Pred = (v: EventView) => boolean;

export interface CompiledRule {
  readonly rule: SigmaRule;
  readonly category: Category;
  readonly condition: CondNode;
  readonly searches: ReadonlyMap<string, CompiledSearch>;
  readonly test: Pred;
  /** Prefilter: one of these literals must occur in its (lower-cased) slot, or null (always test). */
  readonly need: Need | null;
  /** The result reported for a match, built once. */
  readonly result: RuleMatch;
}

/** How selective a need is: longer shortest literal first, then fewer alternatives. */
function score(n: Need | null): number {
  if (n === null || n.length === 0) return -Infinity;
  let min = Infinity;
  for (const x of n) if (x.lit.length < min) min = x.lit.length;
  return Math.min(min, 12) * 1000 - n.length;
}

function best(needs: readonly (Need | null)[]): Need | null {
  let out: Need | null = null;
  for (const n of needs) if (score(n) > score(out)) out = n;
  return out;
}

function union(needs: readonly (Need | null)[]): Need | null {
  const out: { slot: Need[number]['slot']; lit: string }[] = [];
  for (const n of needs) {
    if (n === null) return null;
    out.push(...n);
  }
  const seen = new Set<string>();
  return out.filter((x) => {
    const k = `${x.slot.id}\u0000${x.lit}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function andAll(preds: readonly Pred[]): Pred {
  if (preds.length === 1) return preds[0] as Pred;
  if (preds.length === 2) {
    const [a, b] = preds as [Pred, Pred];
    return (v) => a(v) && b(v);
  }
  return (v) => {
    for (const p of preds) if (!p(v)) return false;
    return true;
  };
}

function orAll(preds: readonly Pred[]): Pred {
  if (preds.length === 1) return preds[0] as Pred;
  return (v) => {
    for (const p of preds) if (p(v)) return true;
    return false;
  };
}

function compileSearch(rule: SigmaRule, name: string, category: Category): CompiledSearch {
  const def = rule.searches.get(name);
  if (!def) throw new CompileError(`undefined search ${name}`, rule.conditionLine);
  if (def.kind === 'keywords') {
    const keywords = compileKeywords(def.values, def.modifiers, CATEGORY_MAPS[category].keywordSlots, def.line);
    return { kind: 'keywords', keywords, test: keywords.test, need: keywords.need };
  }
  const alternatives = def.maps.map((conds) => {
    if (conds.length === 0) throw new CompileError(`search ${name} has an empty map`, def.line);
    return conds.map((c) => compileLeaf(c, category));
  });
  const test = orAll(alternatives.map((leaves) => andAll(leaves.map((l) => l.test))));
  const need = union(alternatives.map((leaves) => best(leaves.map((l) => l.need))));
  return { kind: 'fields', alternatives, test, need };
}

function build(node: CondNode, searches: ReadonlyMap<string, CompiledSearch>): { test: Pred; need: Need | null } {
  switch (node.op) {
    case 'ref': {
      const s = searches.get(node.name) as CompiledSearch;
      return { test: s.test, need: s.need };
    }
    case 'not': {
      const inner = build(node.arg, searches).test;
      return { test: (v) => !inner(v), need: null };
    }
    case 'and': {
      const parts = node.args.map((a) => build(a, searches));
      return { test: andAll(parts.map((p) => p.test)), need: best(parts.map((p) => p.need)) };
    }
    case 'or': {
      const parts = node.args.map((a) => build(a, searches));
      return { test: orAll(parts.map((p) => p.test)), need: union(parts.map((p) => p.need)) };
    }
    case 'atleast': {
      const parts = node.args.map((a) => build(a, searches));
      const n = node.n;
      const tests = parts.map((p) => p.test);
      return {
        test: (v) => {
          let hits = 0;
          for (const t of tests) if (t(v) && ++hits >= n) return true;
          return false;
        },
        need: union(parts.map((p) => p.need)),
      };
    }
  }
}

const TECHNIQUE = /^attack\.(t\d{4}(?:\.\d{3})?)$/i;

export function ruleResult(rule: SigmaRule): RuleMatch {
  return {
    id: rule.id,
    title: rule.title,
    level: rule.level,
    ...(rule.status !== undefined ? { status: rule.status } : {}),
    tags: rule.tags,
    techniques: rule.tags.flatMap((t) => {
      const m = TECHNIQUE.exec(t);
      return m ? [(m[1] as string).toUpperCase()] : [];
    }),
    response: rule.yamori?.response ?? [],
    file: rule.file,
  };
}

export function compileRule(rule: SigmaRule): { ok: true; compiled: CompiledRule } | { ok: false; error: RuleError } {
  const ls = resolveLogsource(rule.logsource);
  const { category: lsCategory, service, product } = rule.logsource;
  const catLabel = lsCategory ?? (service !== undefined ? `service:${service}` : product !== undefined ? `product:${product}` : undefined);
  const fail = (reason: string, line?: number): { ok: false; error: RuleError } => ({
    ok: false,
    error: {
      file: rule.file,
      reason,
      ruleId: rule.id,
      title: rule.title,
      ...(line !== undefined ? { line } : {}),
      ...(catLabel !== undefined ? { category: catLabel } : {}),
    },
  });
  if ('error' in ls) return fail(ls.error, rule.logsourceLine);
  const category = ls.category;
  try {
    const names = [...rule.searches.keys()];
    const conds = rule.conditions.map((c) => {
      try {
        return parseCondition(c, names);
      } catch (e) {
        if (e instanceof ConditionError) throw new CompileError(`condition: ${e.message}`, rule.conditionLine);
        throw e;
      }
    });
    const condition: CondNode = conds.length === 1 ? (conds[0] as CondNode) : { op: 'or', args: conds };
    const searches = new Map<string, CompiledSearch>();
    // Compile every search, used or not: an unknown field anywhere is a rule error.
    for (const name of names) searches.set(name, compileSearch(rule, name, category));
    const { test, need } = build(condition, searches);
    return { ok: true, compiled: { rule, category, condition, searches, test, need, result: ruleResult(rule) } };
  } catch (e) {
    if (e instanceof CompileError) return fail(e.message, e.line);
    throw e;
  }
}
