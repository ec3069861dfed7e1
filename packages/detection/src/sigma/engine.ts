/**
 * The Sigma engine: compiled rules indexed by event category and by prefilter literals. For an
 * event, one Aho-Corasick pass per indexed field finds the rules whose required literals occur;
 * only those (plus the rules no literal could be derived for) run their full predicate.
 */
import { AhoCorasick } from './aho-corasick.ts';
import { compileRule, type CompiledRule } from './compile.ts';
import { EventView } from './event-view.ts';
import { CATEGORIES, eventCategories, type Category, type Slot } from './field-map.ts';
import type { RuleError, RuleMatch, SigmaRule } from './types.ts';

interface FieldIndex {
  readonly slot: Slot;
  readonly ac: AhoCorasick;
  /** literal id → rule indices that need it */
  readonly rulesOf: readonly (readonly number[])[];
}

interface CategoryIndex {
  /** rules tested for every event of the category (no literal prefilter) */
  readonly always: readonly number[];
  readonly fields: readonly FieldIndex[];
}

export interface EngineStats {
  readonly rules: number;
  readonly byCategory: Readonly<Partial<Record<Category, { rules: number; prefiltered: number }>>>;
}

export interface SigmaEngine {
  readonly rules: readonly CompiledRule[];
  /** Rules that match the event, in load order. Never throws on odd or partial events. */
  match(event: unknown): RuleMatch[];
  /** Like match, but returns the compiled rules (for callers that need the source rule). */
  matchRules(event: unknown): CompiledRule[];
  stats(): EngineStats;
}

export interface EngineOptions {
  /** false: test every rule of the event's category (the naive baseline). Default true. */
  readonly index?: boolean;
}

function buildIndex(rules: readonly CompiledRule[], category: Category): CategoryIndex {
  const always: number[] = [];
  const perSlot = new Map<Slot, Map<string, number[]>>();
  rules.forEach((r, i) => {
    if (r.category !== category) return;
    if (r.need === null || r.need.length === 0 || r.need.some((n) => n.lit === '')) {
      always.push(i);
      return;
    }
    for (const { slot, lit } of r.need) {
      let lits = perSlot.get(slot);
      if (!lits) perSlot.set(slot, (lits = new Map<string, number[]>()));
      const list = lits.get(lit) ?? [];
      if (list[list.length - 1] !== i) list.push(i);
      lits.set(lit, list);
    }
  });
  const fields = [...perSlot].map(([slot, lits]) => ({ slot, ac: new AhoCorasick([...lits.keys()]), rulesOf: [...lits.values()] }));
  return { always, fields };
}

class Engine implements SigmaEngine {
  readonly rules: readonly CompiledRule[];
  private readonly indexed: boolean;
  private readonly index: ReadonlyMap<Category, CategoryIndex>;
  private readonly view = new EventView();
  private readonly mark: Uint32Array;
  private epoch = 0;

  constructor(rules: readonly CompiledRule[], options: EngineOptions) {
    this.rules = rules;
    this.indexed = options.index ?? true;
    this.index = new Map(CATEGORIES.map((c) => [c, buildIndex(rules, c)]));
    this.mark = new Uint32Array(rules.length);
  }

  match(event: unknown): RuleMatch[] {
    return this.matchRules(event).map((r) => r.result);
  }

  matchRules(event: unknown): CompiledRule[] {
    if (event === null || typeof event !== 'object' || Array.isArray(event)) return [];
    const cats = eventCategories(event as Record<string, unknown>);
    if (cats.length === 0) return [];
    const view = this.view.reset(event as Record<string, unknown>);
    const out: CompiledRule[] = [];
    if (!this.indexed) {
      for (const r of this.rules) if (cats.includes(r.category) && r.test(view)) out.push(r);
      return out;
    }
    if (++this.epoch === 0xffffffff) {
      this.mark.fill(0);
      this.epoch = 1;
    }
    const epoch = this.epoch;
    const mark = this.mark;
    const candidates: number[] = [];
    for (const cat of cats) {
      const idx = this.index.get(cat) as CategoryIndex;
      for (const i of idx.always) {
        if (mark[i] !== epoch) {
          mark[i] = epoch;
          candidates.push(i);
        }
      }
      for (const f of idx.fields) {
        const text = view.lower(f.slot);
        if (text === undefined) continue;
        const hit = (lit: number): void => {
          for (const i of f.rulesOf[lit] as readonly number[]) {
            if (mark[i] !== epoch) {
              mark[i] = epoch;
              candidates.push(i);
            }
          }
        };
        if (typeof text === 'string') f.ac.scan(text, hit);
        else for (const t of text) f.ac.scan(t, hit);
      }
    }
    if (candidates.length > 1) candidates.sort((a, b) => a - b);
    for (const i of candidates) {
      const r = this.rules[i] as CompiledRule;
      if (r.test(view)) out.push(r);
    }
    return out;
  }

  stats(): EngineStats {
    const byCategory: Partial<Record<Category, { rules: number; prefiltered: number }>> = {};
    for (const [cat, idx] of this.index) {
      const n = this.rules.filter((r) => r.category === cat).length;
      if (n > 0) byCategory[cat] = { rules: n, prefiltered: n - idx.always.length };
    }
    return { rules: this.rules.length, byCategory };
  }
}

export function createSigmaEngine(rules: readonly CompiledRule[], options: EngineOptions = {}): SigmaEngine {
  return new Engine(rules, options);
}

/**
 * Compile parsed rules into an engine. Rules that fail (unsupported logsource, unknown field,
 * bad modifier, duplicate id…) are left out and listed in `errors`, never dropped silently.
 */
export function compileRules(
  rules: readonly SigmaRule[],
  options: EngineOptions = {},
): { engine: SigmaEngine; compiled: readonly CompiledRule[]; errors: RuleError[] } {
  const compiled: CompiledRule[] = [];
  const errors: RuleError[] = [];
  const seen = new Map<string, string>();
  for (const rule of rules) {
    const r = compileRule(rule);
    if (!r.ok) {
      errors.push(r.error);
      continue;
    }
    const prev = seen.get(rule.id);
    if (prev !== undefined) {
      errors.push({
        file: rule.file,
        line: 1,
        reason: `duplicate rule id ${rule.id} (already loaded from ${prev})`,
        ruleId: rule.id,
        title: rule.title,
        category: r.compiled.category,
      });
      continue;
    }
    seen.set(rule.id, rule.file);
    compiled.push(r.compiled);
  }
  return { engine: createSigmaEngine(compiled, options), compiled, errors };
}
