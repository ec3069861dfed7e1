/**
 * Sigma correlation rules (Sigma 2.0 `correlation:`), the ordered kinds only: `temporal_ordered`
 * (the referenced rules match in this order within `timespan`) and `temporal` (all of them, any
 * order). They are evaluated where the events are, on the agent, so "a download into /tmp, then
 * chmod +x of it in the same process tree within a minute" needs no server round trip.
 *
 * Grouping: Sigma's `group-by` lists fields whose values must be equal across the matches. Yamori
 * adds one virtual field, `ProcessTree`: the later matches must come from the first match's
 * process, a sibling of it, or a descendant of its parent (the caller answers that; the engine
 * only keeps the partial sequences).
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { RESPONSE_ACTIONS, RULE_LEVELS, type ResponseAction, type RuleError, type RuleLevel } from './types.ts';

export const PROCESS_TREE_GROUP = 'ProcessTree';
const TECHNIQUE = /^attack\.(t\d{4}(?:\.\d{3})?)$/i;
const MAX_PARTIALS = 1024;

export interface SigmaCorrelation {
  readonly file: string;
  readonly line: number;
  readonly id: string;
  readonly title: string;
  readonly description?: string;
  readonly level: RuleLevel;
  readonly tags: readonly string[];
  readonly techniques: readonly string[];
  readonly type: 'temporal_ordered' | 'temporal';
  /** Referenced rules, by id or title, in order. */
  readonly rules: readonly string[];
  readonly groupBy: readonly string[];
  readonly timespanMs: number;
  /** Whether the referenced rules also report on their own (Sigma's default: no). */
  readonly generate: boolean;
  readonly response: readonly ResponseAction[];
}

/** Whether a YAML text is a correlation rule (cheap check before choosing the parser). */
export const isCorrelationText = (text: string): boolean => /^correlation\s*:/m.test(text);

const SPAN = /^(\d+)(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function parseSigmaCorrelation(text: string, file: string): { ok: true; correlation: SigmaCorrelation } | { ok: false; error: RuleError } {
  const lc = new LineCounter();
  const fail = (reason: string, line?: number, extra: Partial<RuleError> = {}) => ({ ok: false as const, error: { file, reason, ...(line !== undefined ? { line } : {}), ...extra } });
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) return fail(`bad YAML: ${err.message.split('\n')[0] ?? err.message}`, lc.linePos(err.pos[0]).line);
  const root = doc.contents;
  if (!isMap(root)) return fail('a Sigma correlation must be a YAML mapping', 1);
  const js = doc.toJS() as Record<string, unknown>;
  const lineOfKey = (key: string): number | undefined => {
    const pair = root.items.find((p) => isScalar(p.key) && p.key.value === key);
    const range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
    return range ? lc.linePos(range[0]).line : undefined;
  };
  const title = typeof js['title'] === 'string' ? js['title'] : undefined;
  const id = typeof js['id'] === 'string' ? js['id'] : undefined;
  const meta = { ...(id ? { ruleId: id } : {}), ...(title ? { title } : {}), category: 'correlation' };
  if (!title) return fail('missing title', 1, meta);
  if (!id) return fail('missing id', 1, meta);
  const corrNode = root.items.find((p) => isScalar(p.key) && p.key.value === 'correlation')?.value;
  const cLine = lineOfKey('correlation');
  if (!isMap(corrNode)) return fail('correlation must be a mapping', cLine, meta);
  const c = js['correlation'] as Record<string, unknown>;
  const type = c['type'];
  if (type !== 'temporal_ordered' && type !== 'temporal') {
    return fail(`correlation type ${String(type)} is not supported on the agent (temporal_ordered and temporal are; counting types need the server)`, cLine, meta);
  }
  const rules = c['rules'];
  if (!Array.isArray(rules) || rules.length < 2 || !rules.every((r): r is string => typeof r === 'string' && r.length > 0)) {
    return fail('correlation.rules must list at least two rule ids or titles', cLine, meta);
  }
  const groupByRaw = c['group-by'] ?? [];
  const groupBy = typeof groupByRaw === 'string' ? [groupByRaw] : groupByRaw;
  if (!Array.isArray(groupBy) || !groupBy.every((g): g is string => typeof g === 'string')) return fail('correlation.group-by must be a list of field names', cLine, meta);
  const timespan = c['timespan'];
  const span = SPAN.exec(typeof timespan === 'string' ? timespan : '');
  if (!span) return fail('correlation.timespan must be like 30s, 5m, 1h or 1d', cLine, meta);
  const timespanMs = Number(span[1]) * UNIT_MS[span[2] as keyof typeof UNIT_MS];
  const level = js['level'] ?? 'medium';
  if (!RULE_LEVELS.includes(level as RuleLevel)) return fail(`level must be one of ${RULE_LEVELS.join(', ')}`, lineOfKey('level'), meta);
  const tags = Array.isArray(js['tags']) ? js['tags'].filter((t): t is string => typeof t === 'string') : [];
  const yamori = js['yamori'] as { response?: unknown } | undefined;
  const response = yamori?.response ?? [];
  if (!Array.isArray(response) || !response.every((r): r is ResponseAction => (RESPONSE_ACTIONS as readonly string[]).includes(String(r)))) {
    return fail(`yamori.response must list actions among ${RESPONSE_ACTIONS.join(', ')}`, lineOfKey('yamori'), meta);
  }
  const known = new Set(['type', 'rules', 'group-by', 'timespan', 'generate', 'ordered', 'aliases']);
  const unknown = Object.keys(c).find((k) => !known.has(k));
  if (unknown) return fail(`unknown key correlation.${unknown}`, cLine, meta);
  if (c['aliases'] !== undefined) return fail('correlation aliases are not supported', cLine, meta);
  if (!isSeq(corrNode.get('rules', true))) return fail('correlation.rules must be a list', cLine, meta);
  return {
    ok: true,
    correlation: {
      file,
      line: cLine ?? 1,
      id,
      title,
      ...(typeof js['description'] === 'string' ? { description: js['description'] } : {}),
      level: level as RuleLevel,
      tags,
      techniques: tags.flatMap((t) => {
        const m = TECHNIQUE.exec(t);
        return m ? [(m[1] as string).toUpperCase()] : [];
      }),
      type,
      rules,
      groupBy,
      timespanMs,
      generate: c['generate'] === true,
      response,
    },
  };
}

/** Correlations whose referenced rules are all loaded; the others are reported. */
export function resolveCorrelations(
  correlations: readonly SigmaCorrelation[],
  rules: readonly { id: string; title: string }[],
): { resolved: ResolvedCorrelation[]; errors: RuleError[] } {
  const byKey = new Map<string, string>();
  for (const r of rules) {
    byKey.set(r.id, r.id);
    if (!byKey.has(r.title)) byKey.set(r.title, r.id);
  }
  const resolved: ResolvedCorrelation[] = [];
  const errors: RuleError[] = [];
  for (const c of correlations) {
    const ids = c.rules.map((r) => byKey.get(r));
    const missing = c.rules.filter((_, i) => ids[i] === undefined);
    if (missing.length > 0) {
      errors.push({ file: c.file, line: c.line, ruleId: c.id, title: c.title, category: 'correlation', reason: `correlation refers to rules that are not loaded: ${missing.join(', ')}` });
      continue;
    }
    resolved.push({ ...c, ruleIds: ids as string[] });
  }
  return { resolved, errors };
}

export interface ResolvedCorrelation extends SigmaCorrelation {
  readonly ruleIds: readonly string[];
}

/** One step of a sequence as the caller sees it: which rules matched, the group values, opaque context. */
export interface SequenceInput<C> {
  readonly ruleIds: ReadonlySet<string>;
  /** Value of a group-by field for this event (undefined: the event cannot be grouped by it). */
  readonly group: (field: string) => string | undefined;
  readonly context: C;
  readonly at: number;
}

export interface SequenceMatch<C> {
  readonly correlation: ResolvedCorrelation;
  /** The contexts of the matched steps, in order. */
  readonly steps: readonly C[];
}

export interface SequenceEngineOptions<C> {
  /** For the ProcessTree group: does `later` belong to the tree of the first step (`first`)? */
  readonly sameTree?: (first: C, later: C) => boolean;
}

interface Pending<C> {
  readonly started: number;
  readonly keys: readonly (string | undefined)[];
  readonly steps: C[];
  /** temporal: which rule indices are done; temporal_ordered: the next index is steps.length. */
  readonly done: boolean[];
}

export interface SequenceEngine<C> {
  readonly correlations: readonly ResolvedCorrelation[];
  /** Rule ids that only feed correlations and report nothing on their own. */
  readonly silentRuleIds: ReadonlySet<string>;
  observe(input: SequenceInput<C>): SequenceMatch<C>[];
}

export function createSequenceEngine<C>(correlations: readonly ResolvedCorrelation[], options: SequenceEngineOptions<C> = {}): SequenceEngine<C> {
  const partials = new Map<ResolvedCorrelation, Pending<C>[]>(correlations.map((c) => [c, []]));
  const silent = new Set<string>();
  for (const c of correlations) if (!c.generate) for (const id of c.ruleIds) silent.add(id);
  const fieldGroups = (c: ResolvedCorrelation) => c.groupBy.filter((g) => g !== PROCESS_TREE_GROUP);
  const byTree = (c: ResolvedCorrelation) => c.groupBy.includes(PROCESS_TREE_GROUP);

  return {
    correlations,
    silentRuleIds: silent,
    observe(input) {
      const out: SequenceMatch<C>[] = [];
      for (const c of correlations) {
        if (!c.ruleIds.some((id) => input.ruleIds.has(id))) continue;
        const keys = fieldGroups(c).map((g) => input.group(g));
        if (keys.some((k) => k === undefined)) continue; // cannot be grouped: never joins a sequence
        let list = (partials.get(c) ?? []).filter((p) => input.at - p.started <= c.timespanMs);
        const related = (p: Pending<C>) =>
          p.keys.every((k, i) => k === keys[i]) && (!byTree(c) || !options.sameTree || options.sameTree(p.steps[0] as C, input.context));
        let fired = false;
        for (const p of list) {
          if (!related(p)) continue;
          if (c.type === 'temporal_ordered') {
            const next = c.ruleIds[p.steps.length] as string;
            if (!input.ruleIds.has(next)) continue;
            p.steps.push(input.context);
          } else {
            const i = c.ruleIds.findIndex((id, j) => !p.done[j] && input.ruleIds.has(id));
            if (i < 0) continue;
            p.done[i] = true;
            p.steps.push(input.context);
          }
          if (p.steps.length === c.ruleIds.length) {
            out.push({ correlation: c, steps: [...p.steps] });
            fired = true;
          }
        }
        if (fired) list = list.filter((p) => p.steps.length < c.ruleIds.length);
        // A new sequence starts at the first rule (ordered) or at any rule (unordered).
        const starts = c.type === 'temporal_ordered' ? [0] : c.ruleIds.map((_, i) => i);
        const first = starts.find((i) => input.ruleIds.has(c.ruleIds[i] as string));
        if (first !== undefined && !fired) {
          const done = c.ruleIds.map((_, i) => i === first);
          list.push({ started: input.at, keys, steps: [input.context], done });
          if (list.length > MAX_PARTIALS) list = list.slice(-MAX_PARTIALS);
        }
        partials.set(c, list);
      }
      return out;
    },
  };
}
