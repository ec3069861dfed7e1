/**
 * Sigma YAML → SigmaRule. Walks the YAML AST (not plain JS) so that each search and field keeps
 * its line number for error reports. Structure and modifier names are checked here; fields and
 * logsource are checked by the compiler, which knows the event mapping.
 */
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, type YAMLMap } from 'yaml';
import {
  RESPONSE_ACTIONS,
  RULE_LEVELS,
  type FieldCondition,
  type LogSource,
  type ParseResult,
  type ResponseAction,
  type RuleLevel,
  type SearchDef,
  type SigmaScalar,
  type YamoriExtension,
} from './types.ts';

/** Every modifier the compiler understands. */
export const KNOWN_MODIFIERS: ReadonlySet<string> = new Set([
  'contains',
  'startswith',
  'endswith',
  'all',
  're',
  'i',
  'm',
  's',
  'base64',
  'base64offset',
  'utf16le',
  'utf16be',
  'utf16',
  'wide',
  'windash',
  'cidr',
  'exists',
  'lt',
  'lte',
  'gt',
  'gte',
  'fieldref',
  'cased',
]);

const MODIFIER_REASONS: Readonly<Record<string, string>> = {
  expand: 'placeholder expansion (%name%) needs a processing pipeline with placeholder values',
  minute: 'time-part modifiers are not supported',
  hour: 'time-part modifiers are not supported',
  day: 'time-part modifiers are not supported',
  week: 'time-part modifiers are not supported',
  month: 'time-part modifiers are not supported',
  year: 'time-part modifiers are not supported',
};

class ParseError extends Error {
  readonly line: number | undefined;
  constructor(message: string, line?: number) {
    super(message);
    this.line = line;
  }
}

export function parseSigmaRule(text: string, file: string): ParseResult {
  const lc = new LineCounter();
  const lineOf = (node: unknown): number | undefined => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? lc.linePos(range[0]).line : undefined;
  };
  let title: string | undefined;
  let id: string | undefined;
  let category: string | undefined;
  try {
    const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
    const list = Array.isArray(docs) ? docs : [docs];
    for (const d of list) {
      const err = d.errors[0];
      if (err) throw new ParseError(`bad YAML: ${err.message.split('\n')[0] ?? err.message}`, lc.linePos(err.pos[0]).line);
    }
    const doc = list[0];
    if (!doc || doc.contents === null) throw new ParseError('empty file', 1);
    if (list.length > 1) {
      throw new ParseError('multi-document rules (action: global / correlation collections) are not supported', lineOf(list[1]?.contents));
    }
    const root = doc.contents;
    if (!isMap(root)) throw new ParseError('a Sigma rule must be a YAML mapping', lineOf(root));
    const top = mapEntries(root, lineOf);
    const str = (key: string): string | undefined => {
      const e = top.get(key);
      if (!e) return undefined;
      if (!isScalar(e.value) || e.value.value === null) throw new ParseError(`${key} must be a scalar`, e.line);
      return scalarText(e.value.value);
    };
    const strList = (key: string): string[] => {
      const e = top.get(key);
      if (!e || (isScalar(e.value) && e.value.value === null)) return [];
      if (isScalar(e.value)) return [scalarText(e.value.value)];
      if (!isSeq(e.value)) throw new ParseError(`${key} must be a list`, e.line);
      return e.value.items.map((it) => {
        if (!isScalar(it)) throw new ParseError(`${key} entries must be scalars`, lineOf(it) ?? e.line);
        return scalarText(it.value);
      });
    };
    title = str('title');
    id = str('id');
    const ls = top.get('logsource');
    let logsource: LogSource = {};
    if (ls) {
      if (!isMap(ls.value)) throw new ParseError('logsource must be a mapping', ls.line);
      const m = mapEntries(ls.value, lineOf);
      const get = (k: string): string | undefined => {
        const v = m.get(k)?.value;
        return isScalar(v) && v.value !== null ? scalarText(v.value) : undefined;
      };
      const product = get('product');
      const cat = get('category');
      const service = get('service');
      const definition = get('definition');
      logsource = {
        ...(product !== undefined ? { product } : {}),
        ...(cat !== undefined ? { category: cat } : {}),
        ...(service !== undefined ? { service } : {}),
        ...(definition !== undefined ? { definition } : {}),
      };
      category = cat ?? (service !== undefined ? `service:${service}` : product !== undefined ? `product:${product}` : undefined);
    }
    if (top.has('correlation')) throw new ParseError('correlation rules are not supported', top.get('correlation')?.line);
    if (!title) throw new ParseError('missing title', 1);
    if (!ls) throw new ParseError('missing logsource', 1);
    const det = top.get('detection');
    if (!det) throw new ParseError('missing detection', 1);
    if (!isMap(det.value)) throw new ParseError('detection must be a mapping', det.line);

    const searches = new Map<string, SearchDef>();
    let conditions: string[] | undefined;
    let conditionLine = det.line;
    for (const [name, entry] of mapEntries(det.value, lineOf)) {
      if (name === 'condition') {
        conditionLine = entry.line;
        if (isScalar(entry.value)) conditions = [scalarText(entry.value.value)];
        else if (isSeq(entry.value)) conditions = entry.value.items.map((c) => (isScalar(c) ? scalarText(c.value) : ''));
        else throw new ParseError('condition must be a string or a list of strings', entry.line);
        continue;
      }
      if (name === 'timeframe') throw new ParseError('timeframe (aggregation over time) is not supported', entry.line);
      searches.set(name, parseSearch(name, entry.value, entry.line, lineOf));
    }
    if (!conditions || conditions.length === 0 || conditions.some((c) => c.trim() === '')) {
      throw new ParseError('missing or empty detection.condition', conditionLine);
    }

    const levelRaw = str('level') ?? 'medium';
    if (!(RULE_LEVELS as readonly string[]).includes(levelRaw)) throw new ParseError(`unknown level ${levelRaw}`, top.get('level')?.line);

    const status = str('status');
    const description = str('description');
    const author = str('author');
    const date = str('date');
    const modified = str('modified');
    const yamoriEntry = top.get('yamori');
    const yamori = yamoriEntry ? parseYamori(yamoriEntry.value, yamoriEntry.line, lineOf) : undefined;
    return {
      ok: true,
      rule: {
        file,
        line: 1,
        title,
        id: id ?? `${file}#${title}`,
        ...(status !== undefined ? { status } : {}),
        ...(description !== undefined ? { description } : {}),
        references: strList('references'),
        ...(author !== undefined ? { author } : {}),
        ...(date !== undefined ? { date } : {}),
        ...(modified !== undefined ? { modified } : {}),
        tags: strList('tags'),
        level: levelRaw as RuleLevel,
        falsepositives: strList('falsepositives'),
        logsource,
        logsourceLine: ls.line ?? 1,
        searches,
        conditions,
        conditionLine: conditionLine ?? 1,
        ...(yamori ? { yamori } : {}),
      },
    };
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    const line = e instanceof ParseError ? e.line : undefined;
    return {
      ok: false,
      error: {
        file,
        reason,
        ...(line !== undefined ? { line } : {}),
        ...(id !== undefined ? { ruleId: id } : {}),
        ...(title !== undefined ? { title } : {}),
        ...(category !== undefined ? { category } : {}),
      },
    };
  }
}

interface Entry {
  readonly value: unknown;
  readonly line: number | undefined;
}

function mapEntries(map: YAMLMap, lineOf: (n: unknown) => number | undefined): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (const pair of map.items) {
    if (!isPair(pair) || !isScalar(pair.key)) throw new ParseError('mapping keys must be plain scalars', lineOf(pair.key) ?? lineOf(map));
    out.set(scalarText(pair.key.value), { value: pair.value, line: lineOf(pair.key) });
  }
  return out;
}

function scalar(node: unknown, line: number | undefined, lineOf: (n: unknown) => number | undefined): SigmaScalar {
  if (node === null || node === undefined) return null;
  if (!isScalar(node)) throw new ParseError('expected a scalar value', lineOf(node) ?? line);
  const v = node.value;
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return Number(v);
  return scalarText(v);
}

/** A YAML scalar's value as text (timestamps as dates, anything else as JSON). */
function scalarText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString().slice(0, 10);
  return JSON.stringify(v) ?? '';
}

function values(node: unknown, line: number | undefined, lineOf: (n: unknown) => number | undefined): SigmaScalar[] {
  if (isSeq(node)) return node.items.map((it) => scalar(it, lineOf(it) ?? line, lineOf));
  return [scalar(node, line, lineOf)];
}

function checkModifiers(mods: string[], line: number | undefined): void {
  for (const m of mods) {
    if (KNOWN_MODIFIERS.has(m)) continue;
    const why = MODIFIER_REASONS[m];
    throw new ParseError(`unsupported modifier '${m}'${why ? `: ${why}` : ''}`, line);
  }
}

function parseFieldMap(map: YAMLMap, lineOf: (n: unknown) => number | undefined): FieldCondition[] {
  const out: FieldCondition[] = [];
  for (const [key, entry] of mapEntries(map, lineOf)) {
    const [field = '', ...modifiers] = key.split('|');
    checkModifiers(modifiers, entry.line);
    out.push({ field, modifiers, values: values(entry.value, entry.line, lineOf), line: entry.line ?? 0 });
  }
  return out;
}

function parseSearch(name: string, node: unknown, line: number | undefined, lineOf: (n: unknown) => number | undefined): SearchDef {
  const at = line ?? 0;
  if (isMap(node)) {
    const conds = parseFieldMap(node, lineOf);
    const kw = conds.find((c) => c.field === '');
    if (kw) {
      // `'|all': [...]` (or any `|mod` key) is a keyword search with modifiers.
      if (conds.length > 1) throw new ParseError('a keyword key (|modifier) cannot be mixed with fields in one map', kw.line);
      return { kind: 'keywords', name, line: at, values: kw.values, modifiers: kw.modifiers };
    }
    return { kind: 'fields', name, line: at, maps: [conds] };
  }
  if (isSeq(node)) {
    const items = node.items;
    if (items.length === 0) throw new ParseError(`search ${name} is an empty list`, at);
    if (items.every((it) => isMap(it))) {
      return { kind: 'fields', name, line: at, maps: items.map((it) => parseFieldMap(it, lineOf)) };
    }
    if (items.every((it) => isScalar(it))) {
      return { kind: 'keywords', name, line: at, values: items.map((it) => scalar(it, at, lineOf)), modifiers: [] };
    }
    throw new ParseError(`search ${name} mixes maps and plain values`, at);
  }
  if (isScalar(node) && node.value !== null) {
    return { kind: 'keywords', name, line: at, values: [scalar(node, at, lineOf)], modifiers: [] };
  }
  throw new ParseError(`search ${name} must be a map, a list of maps or a list of keywords`, at);
}

function parseYamori(node: unknown, line: number | undefined, lineOf: (n: unknown) => number | undefined): YamoriExtension {
  if (!isMap(node)) throw new ParseError('yamori must be a mapping', line);
  const entries = mapEntries(node, lineOf);
  const response: ResponseAction[] = [];
  for (const [key, e] of entries) {
    if (key !== 'response') throw new ParseError(`unknown key yamori.${key}`, e.line);
    for (const v of values(e.value, e.line, lineOf)) {
      if (!(RESPONSE_ACTIONS as readonly string[]).includes(String(v))) {
        throw new ParseError(`unknown response action ${String(v)} (allowed: ${RESPONSE_ACTIONS.join(', ')})`, e.line);
      }
      response.push(v as ResponseAction);
    }
  }
  return { response };
}
