/**
 * Field conditions (`Field|mods: values`) and keyword searches → closures over an EventView.
 * Sigma matching is case-insensitive unless `cased`; `re` is case-sensitive unless `re|i`.
 * Each leaf also reports a prefilter `need`: literals of which at least one must occur in the
 * (lower-cased) field for the leaf to match, and a `spec` the test-event synthesizer can satisfy.
 */
import type { EventView, Lowered } from './event-view.ts';
import { resolveField, type Category, type Slot } from './field-map.ts';
import type { FieldCondition, SigmaScalar } from './types.ts';

export class CompileError extends Error {
  readonly line: number | undefined;
  constructor(message: string, line?: number) {
    super(message);
    this.line = line;
  }
}

/** A disjunction: the leaf can only match if one of these lower-case literals occurs in its slot. */
export type Need = readonly { readonly slot: Slot; readonly lit: string }[];

/** What a synthesized event must hold so that one value of a leaf matches. */
export type ValueSpec =
  | { readonly place: 'exact' | 'prefix' | 'suffix' | 'infix'; readonly sample: string }
  | { readonly place: 'number'; readonly sample: number }
  | { readonly place: 'regex'; readonly re: RegExp }
  | { readonly place: 'absent' }
  | { readonly place: 'present' }
  | { readonly place: 'fieldref'; readonly other: Slot; readonly how: Mode };

export interface LeafSpec {
  readonly slot: Slot;
  readonly all: boolean;
  readonly options: readonly ValueSpec[];
}

export interface CompiledLeaf {
  readonly test: (v: EventView) => boolean;
  readonly need: Need | null;
  readonly spec: LeafSpec;
}

type Mode = 'exact' | 'contains' | 'startswith' | 'endswith';
type Token = string | { readonly wild: '*' | '?' };

/** Sigma wildcards: `*` any run, `?` one char; `\*`, `\?`, `\\` escape; other backslashes are literal. */
export function parseWildcards(value: string): Token[] {
  const out: Token[] = [];
  let lit = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '\\') {
      const n = value[i + 1];
      if (n === '*' || n === '?' || n === '\\') {
        lit += n;
        i++;
        continue;
      }
      lit += c;
    } else if (c === '*' || c === '?') {
      if (lit) out.push(lit);
      lit = '';
      out.push({ wild: c });
    } else lit += c;
  }
  if (lit) out.push(lit);
  return out;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A value pattern reduced to the cheapest test: a plain literal with a mode, or an anchored regex. */
type Pattern = { readonly kind: 'plain'; readonly mode: Mode; readonly lit: string } | { readonly kind: 'regex'; readonly tokens: readonly Token[] };

function toPattern(tokens: Token[], mode: Mode): Pattern {
  const star = (t: Token | undefined): boolean => t !== undefined && typeof t !== 'string' && t.wild === '*';
  const padded: Token[] = [
    ...(mode === 'contains' || mode === 'endswith' ? [{ wild: '*' } as const] : []),
    ...tokens,
    ...(mode === 'contains' || mode === 'startswith' ? [{ wild: '*' } as const] : []),
  ];
  // a run of '*' is one '*'
  const toks = padded.filter((t, i, all) => !(star(t) && star(all[i - 1])));
  const lits = toks.filter((t): t is string => typeof t === 'string');
  const wild = toks.length - lits.length;
  if (wild === 0) return { kind: 'plain', mode: 'exact', lit: lits.join('') };
  if (lits.length === 0 && toks.every(star)) return { kind: 'plain', mode: 'contains', lit: '' };
  if (lits.length === 1 && toks.length <= 3) {
    const lit = lits[0] as string;
    const first = toks[0];
    const last = toks[toks.length - 1];
    if (toks.length === 3 && star(first) && star(last)) return { kind: 'plain', mode: 'contains', lit };
    if (toks.length === 2 && star(last) && first === lit) return { kind: 'plain', mode: 'startswith', lit };
    if (toks.length === 2 && star(first) && last === lit) return { kind: 'plain', mode: 'endswith', lit };
  }
  return { kind: 'regex', tokens: toks };
}

function regexFromTokens(tokens: readonly Token[], cased: boolean): RegExp {
  const body = tokens.map((t) => (typeof t === 'string' ? escapeRe(t) : t.wild === '*' ? '[\\s\\S]*' : '[\\s\\S]')).join('');
  return new RegExp(`^${body}$`, cased ? '' : 'i');
}

function longestLiteral(p: Pattern): string {
  if (p.kind === 'plain') return p.lit;
  let best = '';
  for (const t of p.tokens) if (typeof t === 'string' && t.length > best.length) best = t;
  return best;
}

function sampleOf(p: Pattern): ValueSpec {
  if (p.kind === 'plain') {
    const place = p.mode === 'exact' ? 'exact' : p.mode === 'startswith' ? 'prefix' : p.mode === 'endswith' ? 'suffix' : 'infix';
    return { place, sample: p.lit };
  }
  const toks = p.tokens;
  const s = toks.map((t) => (typeof t === 'string' ? t : t.wild === '?' ? 'x' : '')).join('');
  const first = toks[0];
  const last = toks[toks.length - 1];
  const openStart = first !== undefined && typeof first !== 'string' && first.wild === '*';
  const openEnd = last !== undefined && typeof last !== 'string' && last.wild === '*';
  return { place: openStart && openEnd ? 'infix' : openStart ? 'suffix' : openEnd ? 'prefix' : 'exact', sample: s };
}

/** Windows-style dashes: a `-` or `/` that starts a word may be any of - / – — ―. */
const DASHES = ['-', '/', '\u2013', '\u2014', '\u2015'];
function expandWindash(value: string): string[] {
  const positions: number[] = [];
  const re = /\B[-/]\b/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(value)) !== null) positions.push(m.index);
  if (positions.length > 4) throw new CompileError(`windash: too many dashes in '${value}' (at most 4)`);
  let out = [value];
  for (const pos of positions) {
    out = out.flatMap((v) => DASHES.map((d) => v.slice(0, pos) + d + v.slice(pos + 1)));
  }
  return [...new Set(out)];
}

function encodeText(s: string, mods: ReadonlySet<string>): Buffer {
  if (mods.has('utf16le') || mods.has('wide')) return Buffer.from(s, 'utf16le');
  if (mods.has('utf16be')) return Buffer.from(Buffer.from(s, 'utf16le').swap16());
  if (mods.has('utf16')) return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(s, 'utf16le')]);
  return Buffer.from(s, 'utf8');
}

/** The three base64 renderings of a value at byte offsets 0, 1, 2 (only the stable characters). */
export function base64Offsets(data: Buffer): string[] {
  const start = [0, 2, 3];
  const end = [0, 3, 2];
  const out: string[] = [];
  for (let i = 0; i < 3; i++) {
    const enc = Buffer.concat([Buffer.alloc(i, 0x20), data]).toString('base64');
    const cut = end[(data.length + i) % 3] as number;
    out.push(enc.slice(start[i], cut === 0 ? undefined : enc.length - cut));
  }
  return out;
}

function ipv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return undefined;
    n = n * 256 + o;
  }
  return n;
}

function ipv6(s: string): bigint | undefined {
  if (!s.includes(':')) return undefined;
  let str = s.toLowerCase();
  const pct = str.indexOf('%');
  if (pct >= 0) str = str.slice(0, pct);
  let tail: number[] = [];
  const lastColon = str.lastIndexOf(':');
  const v4 = ipv4(str.slice(lastColon + 1));
  if (v4 !== undefined) {
    tail = [v4 >>> 16, v4 & 0xffff];
    str = str.slice(0, lastColon + 1) + '0';
    str = str.slice(0, -2) === '' ? '::' : str.slice(0, -1) + 'x';
    str = str.replace(/:x$/, '');
    if (str.endsWith(':')) str += '';
  }
  const halves = str.split('::');
  if (halves.length > 2) return undefined;
  const part = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const a = part(halves[0] ?? '');
  const b = halves.length === 2 ? part(halves[1] ?? '') : [];
  if (!a || !b) return undefined;
  const groups = halves.length === 2 ? [...a, ...new Array<number>(8 - a.length - b.length - tail.length).fill(0), ...b, ...tail] : [...a, ...tail];
  if (groups.length !== 8 || groups.some((g) => !(g >= 0))) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

function cidrTest(value: string, line: number): { test: (s: string) => boolean; sample: string } {
  const [addr = '', bitsRaw] = value.split('/');
  const v4 = ipv4(addr);
  if (v4 !== undefined) {
    const bits = bitsRaw === undefined ? 32 : Number(bitsRaw);
    if (!Number.isInteger(bits) || bits < 0 || bits > 32) throw new CompileError(`cidr: bad prefix length in ${value}`, line);
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const net = (v4 & mask) >>> 0;
    const host = bits >= 31 ? net : net + 1;
    const sample = [host >>> 24, (host >>> 16) & 255, (host >>> 8) & 255, host & 255].join('.');
    return {
      test: (s) => {
        const x = ipv4(s);
        return x !== undefined && ((x & mask) >>> 0) === net;
      },
      sample,
    };
  }
  const v6 = ipv6(addr);
  if (v6 !== undefined) {
    const bits = bitsRaw === undefined ? 128 : Number(bitsRaw);
    if (!Number.isInteger(bits) || bits < 0 || bits > 128) throw new CompileError(`cidr: bad prefix length in ${value}`, line);
    const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(128 - bits);
    const net = v6 & mask;
    const host = bits >= 127 ? net : net + 1n;
    const hex = host.toString(16).padStart(32, '0');
    const sample = (hex.match(/.{4}/g) ?? []).map((g) => g.replace(/^0+(?=.)/, '')).join(':');
    return {
      test: (s) => {
        const x = ipv6(s);
        return x !== undefined && (x & mask) === net;
      },
      sample,
    };
  }
  throw new CompileError(`cidr: '${value}' is not an IPv4 or IPv6 network`, line);
}

/** Convert PCRE-style leading inline flags `(?i)` etc. (not in JS) into RegExp flags. */
function compileRegex(src: string, flags: string, line: number): RegExp {
  let body = src;
  let f = flags;
  const m = /^\(\?([ims]+)\)/.exec(body);
  if (m) {
    body = body.slice(m[0].length);
    for (const c of m[1] as string) if (!f.includes(c)) f += c;
  }
  try {
    return new RegExp(body, f);
  } catch (e) {
    throw new CompileError(`re: invalid regular expression '${src}': ${e instanceof Error ? e.message : String(e)}`, line);
  }
}

/** Run a string test on a field value: false when absent, any element for lists. */
function onValue(x: Lowered, fn: (s: string) => boolean): boolean {
  if (x === undefined) return false;
  if (typeof x === 'string') return fn(x);
  for (const s of x) if (fn(s)) return true;
  return false;
}

function plainFn(mode: Mode, lit: string): (s: string) => boolean {
  switch (mode) {
    case 'exact':
      return (s) => s === lit;
    case 'contains':
      return (s) => s.includes(lit);
    case 'startswith':
      return (s) => s.startsWith(lit);
    case 'endswith':
      return (s) => s.endsWith(lit);
  }
}

/** An OR over plain literals on one string, fused into one closure. */
function fusedPlain(plains: readonly { mode: Mode; lit: string }[]): (s: string) => boolean {
  const exact = new Set(plains.filter((p) => p.mode === 'exact').map((p) => p.lit));
  const contains = plains.filter((p) => p.mode === 'contains').map((p) => p.lit);
  const starts = plains.filter((p) => p.mode === 'startswith').map((p) => p.lit);
  const ends = plains.filter((p) => p.mode === 'endswith').map((p) => p.lit);
  return (s) => {
    if (exact.size > 0 && exact.has(s)) return true;
    for (const l of ends) if (s.endsWith(l)) return true;
    for (const l of starts) if (s.startsWith(l)) return true;
    for (const l of contains) if (s.includes(l)) return true;
    return false;
  };
}

interface ValueTest {
  /** test on lower-cased (true) or raw (false) string */
  readonly lower: boolean;
  readonly fn: (s: string) => boolean;
  readonly plain?: { readonly mode: Mode; readonly lit: string };
  /** prefilter literals (lower-case) of which one must occur; null when none can be derived */
  readonly needs: readonly string[] | null;
  readonly spec: ValueSpec;
  /** a windash variant other than the value as written (not offered to the synthesizer) */
  readonly variant?: boolean;
  /** index of the rule value this test came from (windash gives one value several tests) */
  readonly group: number;
}

const STRING_MODES = ['contains', 'startswith', 'endswith'] as const;

function stringModeOf(mods: ReadonlySet<string>, line: number): Mode {
  const modes = STRING_MODES.filter((m) => mods.has(m));
  if (modes.length > 1) throw new CompileError(`modifiers ${modes.join(' and ')} cannot be combined`, line);
  return modes[0] ?? 'exact';
}

function scalarText(v: SigmaScalar): string {
  return v === null ? '' : String(v);
}

/** Compile one `Field|mods: values` condition of a rule in a category. */
export function compileLeaf(cond: FieldCondition, category: Category): CompiledLeaf {
  const line = cond.line;
  const resolved = resolveField(category, cond.field);
  if ('error' in resolved) throw new CompileError(resolved.error, line);
  const slot = resolved.slot;
  const mods = new Set(cond.modifiers);
  const all = mods.has('all');
  const cased = mods.has('cased');
  const values = cond.values;
  if (values.length === 0) throw new CompileError(`${cond.field}: empty value list`, line);

  const reFlags = ['i', 'm', 's'].filter((f) => mods.has(f));
  if (reFlags.length > 0 && !mods.has('re')) throw new CompileError(`modifier ${reFlags.join(', ')} is only valid with re`, line);
  const encoders = ['utf16le', 'utf16be', 'utf16', 'wide'].filter((f) => mods.has(f));
  if (encoders.length > 0 && !mods.has('base64') && !mods.has('base64offset')) {
    throw new CompileError(`modifier ${encoders.join(', ')} is only valid with base64/base64offset`, line);
  }

  // exists: a boolean about presence, nothing else.
  if (mods.has('exists')) {
    if (mods.size > 1) throw new CompileError('exists cannot be combined with other modifiers', line);
    const want = values[0];
    if (values.length !== 1 || typeof want !== 'boolean') throw new CompileError('exists needs true or false', line);
    const test = (v: EventView): boolean => (v.raw(slot) !== undefined) === want;
    return { test, need: null, spec: { slot, all: false, options: [{ place: want ? 'present' : 'absent' }] } };
  }

  const numeric = (['lt', 'lte', 'gt', 'gte'] as const).filter((m) => mods.has(m));
  if (numeric.length > 0) {
    if (numeric.length > 1 || mods.size > (all ? 2 : 1)) throw new CompileError(`${numeric.join(', ')} cannot be combined with other modifiers`, line);
    const op = numeric[0] as 'lt' | 'lte' | 'gt' | 'gte';
    const nums = values.map((x) => {
      const n = typeof x === 'number' ? x : Number(x);
      if (x === null || typeof x === 'boolean' || !Number.isFinite(n)) throw new CompileError(`${op} needs a number, got ${String(x)}`, line);
      return n;
    });
    const cmp = { lt: (a: number, b: number) => a < b, lte: (a: number, b: number) => a <= b, gt: (a: number, b: number) => a > b, gte: (a: number, b: number) => a >= b }[op];
    const tests = nums.map((n) => (v: EventView): boolean => {
      const raw = v.raw(slot);
      if (typeof raw !== 'number' && typeof raw !== 'string') return false;
      const x = typeof raw === 'number' ? raw : raw.trim() === '' ? NaN : Number(raw);
      return Number.isFinite(x) && cmp(x, n);
    });
    const options = nums.map((n): ValueSpec => ({ place: 'number', sample: op === 'lt' ? n - 1 : op === 'gt' ? n + 1 : n }));
    return { test: combine(tests, all), need: null, spec: { slot, all, options } };
  }

  if (mods.has('fieldref')) {
    const mode = stringModeOf(mods, line);
    const extra = [...mods].filter((m) => !['fieldref', 'all', 'cased', ...STRING_MODES].includes(m));
    if (extra.length > 0) throw new CompileError(`fieldref cannot be combined with ${extra.join(', ')}`, line);
    const others = values.map((x) => {
      const r = resolveField(category, scalarText(x));
      if ('error' in r) throw new CompileError(`fieldref: ${r.error}`, line);
      return r.slot;
    });
    const tests = others.map((other) => (v: EventView): boolean => {
      const a = cased ? v.str(slot) : v.lower(slot);
      const b = cased ? v.str(other) : v.lower(other);
      if (b === undefined) return false;
      const bs = typeof b === 'string' ? [b] : b;
      return bs.some((want) => onValue(a, plainFn(mode, want)));
    });
    return { test: combine(tests, all), need: null, spec: { slot, all, options: others.map((other) => ({ place: 'fieldref', other, how: mode })) } };
  }

  if (mods.has('cidr')) {
    const extra = [...mods].filter((m) => m !== 'cidr' && m !== 'all');
    if (extra.length > 0) throw new CompileError(`cidr cannot be combined with ${extra.join(', ')}`, line);
    const cs = values.map((x) => cidrTest(scalarText(x), line));
    const tests = cs.map((c) => (v: EventView) => onValue(v.str(slot), c.test));
    return { test: combine(tests, all), need: null, spec: { slot, all, options: cs.map((c) => ({ place: 'exact', sample: c.sample })) } };
  }

  if (mods.has('re')) {
    const extra = [...mods].filter((m) => !['re', 'i', 'm', 's', 'all'].includes(m));
    if (extra.length > 0) throw new CompileError(`re cannot be combined with ${extra.join(', ')}`, line);
    const res = values.map((x) => compileRegex(scalarText(x), reFlags.join(''), line));
    const tests = res.map((re) => (v: EventView) => onValue(v.str(slot), (s) => re.test(s)));
    return { test: combine(tests, all), need: null, spec: { slot, all, options: res.map((re) => ({ place: 'regex', re })) } };
  }

  const mode = stringModeOf(mods, line);
  const vts: ValueTest[] = [];
  let nullOk = false;
  for (const [group, raw] of values.entries()) {
    if (raw === null) {
      nullOk = true;
      continue;
    }
    const text = scalarText(raw);
    if (mods.has('base64') || mods.has('base64offset')) {
      if (mods.has('base64') && mods.has('base64offset')) throw new CompileError('base64 and base64offset cannot be combined', line);
      if (mods.has('windash')) throw new CompileError('windash cannot be combined with base64', line);
      const data = encodeText(text, mods);
      const encs = mods.has('base64offset') ? base64Offsets(data) : [data.toString('base64')];
      // base64 text is case-sensitive by nature: match it as written.
      const alts = encs.map((lit) => ({ mode, lit }));
      vts.push({
        lower: false,
        fn: fusedPlain(alts),
        needs: encs.map((e) => e.toLowerCase()),
        spec: sampleOf({ kind: 'plain', mode, lit: encs[0] as string }),
        group,
      });
      continue;
    }
    const variants = mods.has('windash') ? expandWindash(text) : [text];
    const pats = variants.map((t) => toPattern(parseWildcards(t), mode));
    for (const [k, p] of pats.entries()) {
      if (p.kind === 'plain') {
        const lit = cased ? p.lit : p.lit.toLowerCase();
        vts.push({ lower: !cased, fn: plainFn(p.mode, lit), plain: { mode: p.mode, lit }, needs: [lit.toLowerCase()], spec: sampleOf(p), variant: k > 0, group });
      } else {
        const re = regexFromTokens(p.tokens, cased);
        vts.push({ lower: false, fn: (s) => re.test(s), needs: [longestLiteral(p).toLowerCase()], spec: sampleOf(p), variant: k > 0, group });
      }
    }
  }

  // Need per rule value: one of its renderings (windash variants, base64 offsets) must occur.
  // OR over values → the union, if every value offers literals; all → the most selective value.
  const byGroup = new Map<number, ValueTest[]>();
  for (const t of vts) byGroup.set(t.group, [...(byGroup.get(t.group) ?? []), t]);
  const groupLits = [...byGroup.values()].map((ts): string[] | null => {
    const lits = ts.flatMap((t): (string | null)[] => (t.needs ? [...t.needs] : [null]));
    return lits.every((l): l is string => typeof l === 'string' && l !== '') ? [...new Set(lits)] : null;
  });
  let need: Need | null = null;
  if (!nullOk && vts.length > 0) {
    if (all) {
      let best: string[] | null = null;
      const minLen = (ls: string[]): number => Math.min(...ls.map((l) => l.length));
      for (const g of groupLits) if (g && (best === null || minLen(g) > minLen(best))) best = g;
      need = best ? best.map((lit) => ({ slot, lit })) : null;
    } else if (groupLits.every((g) => g !== null)) {
      need = [...new Set(groupLits.flat() as string[])].map((lit) => ({ slot, lit }));
    }
  }

  const options = vts.filter((t) => !t.variant).map((t) => t.spec);
  if (nullOk) options.push({ place: 'absent' });

  let test: (v: EventView) => boolean;
  if (all) {
    // every rule value must match, in any of its renderings
    const single = (t: ValueTest) => (t.lower ? (v: EventView) => onValue(v.lower(slot), t.fn) : (v: EventView) => onValue(v.str(slot), t.fn));
    test = combine([...byGroup.values()].map((ts) => combine(ts.map(single), false)), true);
  } else {
    const lowerPlain = vts.filter((t) => t.lower && t.plain).map((t) => t.plain as { mode: Mode; lit: string });
    const rest = vts.filter((t) => !(t.lower && t.plain));
    const fused = lowerPlain.length > 0 ? fusedPlain(lowerPlain) : null;
    const restLower = rest.filter((t) => t.lower).map((t) => t.fn);
    const restRaw = rest.filter((t) => !t.lower).map((t) => t.fn);
    test = (v) => {
      if (nullOk) {
        const x = v.str(slot);
        if (x === undefined || x === '' || (Array.isArray(x) && x.length === 0)) return true;
      }
      if (fused !== null && onValue(v.lower(slot), fused)) return true;
      if (restLower.length > 0) {
        const x = v.lower(slot);
        for (const fn of restLower) if (onValue(x, fn)) return true;
      }
      if (restRaw.length > 0) {
        const x = v.str(slot);
        for (const fn of restRaw) if (onValue(x, fn)) return true;
      }
      return false;
    };
  }
  return { test, need, spec: { slot, all, options } };
}

function combine(tests: readonly ((v: EventView) => boolean)[], all: boolean): (v: EventView) => boolean {
  if (tests.length === 1) return tests[0] as (v: EventView) => boolean;
  return all ? (v) => tests.every((t) => t(v)) : (v) => tests.some((t) => t(v));
}

export interface CompiledKeywords {
  readonly test: (v: EventView) => boolean;
  readonly need: Need | null;
  /** Samples to put into the first keyword slot. */
  readonly samples: readonly string[];
  readonly all: boolean;
  readonly slots: readonly Slot[];
}

/** Field-less values: each is matched as a substring (wildcards allowed) of any keyword slot. */
export function compileKeywords(values: readonly SigmaScalar[], modifiers: readonly string[], slots: readonly Slot[], line: number): CompiledKeywords {
  const mods = new Set(modifiers);
  const extra = [...mods].filter((m) => m !== 'all' && m !== 'cased');
  if (extra.length > 0) throw new CompileError(`keyword searches do not support modifier ${extra.join(', ')}`, line);
  const all = mods.has('all');
  const cased = mods.has('cased');
  const pats = values.map((x) => {
    if (x === null) throw new CompileError('null is not a valid keyword', line);
    return toPattern(parseWildcards(String(x)), 'contains');
  });
  const fns = pats.map((p) => {
    if (p.kind === 'plain') {
      const lit = cased ? p.lit : p.lit.toLowerCase();
      const fn = plainFn(p.mode, lit);
      return cased
        ? (v: EventView) => slots.some((s) => onValue(v.str(s), fn))
        : (v: EventView) => slots.some((s) => onValue(v.lower(s), fn));
    }
    const re = regexFromTokens(p.tokens, cased);
    return (v: EventView) => slots.some((s) => onValue(v.str(s), (x) => re.test(x)));
  });
  const lits = pats.map((p) => longestLiteral(p).toLowerCase());
  let need: Need | null = null;
  if (all) {
    const best = lits.reduce((a, b) => (b.length > a.length ? b : a), '');
    need = best ? slots.map((slot) => ({ slot, lit: best })) : null;
  } else if (lits.every((l) => l !== '')) {
    need = lits.flatMap((lit) => slots.map((slot) => ({ slot, lit })));
  }
  const samples = pats.map((p) => {
    const s = sampleOf(p);
    return 'sample' in s ? String(s.sample) : '';
  });
  return { test: combine(fns, all), need, samples, all, slots };
}
