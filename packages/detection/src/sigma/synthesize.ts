/**
 * Builds an ECS event that a compiled rule matches, from the rule's own detection: the positive
 * searches are satisfied, fields only named under `not` are left absent. Used by tests (every
 * compiled rule must match its synthesized event) and by rule authors (`yamori sigma synth`).
 * Candidates are verified with the rule's own predicate; the first that matches is returned.
 */
import type { CompiledRule, CompiledSearch } from './compile.ts';
import type { CondNode } from './condition.ts';
import { EventView } from './event-view.ts';
import { skeletonEvent, type Slot } from './field-map.ts';
import type { ValueSpec } from './matchers.ts';

type Choice = { readonly search: string; readonly alt: number };
type Plan = readonly Choice[];

function* plans(node: CondNode, searches: ReadonlyMap<string, CompiledSearch>): Generator<Plan> {
  switch (node.op) {
    case 'ref': {
      const s = searches.get(node.name);
      if (!s) return;
      const n = s.kind === 'fields' ? s.alternatives.length : s.keywords.all ? 1 : s.keywords.samples.length;
      for (let alt = 0; alt < n; alt++) yield [{ search: node.name, alt }];
      return;
    }
    case 'not':
      yield [];
      return;
    case 'or':
      for (const a of node.args) yield* plans(a, searches);
      return;
    case 'and':
      yield* product(node.args, searches);
      return;
    case 'atleast':
      yield* product(node.args.slice(0, node.n), searches);
      return;
  }
}

function* product(args: readonly CondNode[], searches: ReadonlyMap<string, CompiledSearch>): Generator<Plan> {
  const [first, ...rest] = args;
  if (!first) {
    yield [];
    return;
  }
  for (const head of plans(first, searches)) {
    for (const tail of product(rest, searches)) yield [...head, ...tail];
  }
}

interface SlotPlan {
  exact?: string;
  num?: number;
  prefix: string[];
  infix: string[];
  suffix: string[];
  present: boolean;
  refs: { other: Slot }[];
}

/** One string a JavaScript regular expression matches (first alternatives, minimal repeats). */
export function regexSample(re: RegExp): string {
  const src = re.source;
  let i = 0;
  const classPick = (): string => {
    // at '[' already consumed
    let negated = false;
    if (src[i] === '^') {
      negated = true;
      i++;
    }
    const members: ((c: string) => boolean)[] = [];
    let firstChar: string | undefined;
    let startedAt = i;
    while (i < src.length && (src[i] !== ']' || i === startedAt)) {
      let c = src[i++] as string;
      if (c === '\\') {
        const e = src[i++] as string;
        const cls = escClass(e);
        if (cls) {
          members.push(cls.test);
          firstChar ??= cls.sample;
          continue;
        }
        c = escChar(e);
      }
      if (src[i] === '-' && src[i + 1] !== ']' && src[i + 1] !== undefined) {
        i++;
        let hi = src[i++] as string;
        if (hi === '\\') hi = escChar(src[i++] as string);
        const lo = c;
        members.push((x) => x >= lo && x <= hi);
      } else {
        const lit = c;
        members.push((x) => x === lit);
      }
      firstChar ??= c;
      startedAt = -1;
    }
    i++; // ']'
    if (!negated) return firstChar ?? 'a';
    for (const cand of ['a', 'x', 'Z', '0', '_', '.', '=', ',']) if (!members.some((m) => m(cand))) return cand;
    return '~';
  };
  const escClass = (e: string): { test: (c: string) => boolean; sample: string } | undefined => {
    switch (e) {
      case 's':
        return { test: (c) => /\s/.test(c), sample: ' ' };
      case 'S':
        return { test: (c) => /\S/.test(c), sample: 'a' };
      case 'd':
        return { test: (c) => /\d/.test(c), sample: '0' };
      case 'D':
        return { test: (c) => /\D/.test(c), sample: 'a' };
      case 'w':
        return { test: (c) => /\w/.test(c), sample: 'a' };
      case 'W':
        return { test: (c) => /\W/.test(c), sample: ' ' };
      default:
        return undefined;
    }
  };
  const escChar = (e: string): string => {
    if (e === 'n') return '\n';
    if (e === 't') return '\t';
    if (e === 'r') return '\r';
    if (e === 'x') {
      const h = src.slice(i, i + 2);
      i += 2;
      return String.fromCharCode(parseInt(h, 16));
    }
    if (e === 'u') {
      const h = src.slice(i, i + 4);
      i += 4;
      return String.fromCharCode(parseInt(h, 16));
    }
    return e;
  };
  const atom = (): string | null => {
    const c = src[i++] as string;
    switch (c) {
      case '(': {
        let skip = false;
        if (src[i] === '?') {
          if (src[i + 1] === ':') i += 2;
          else if (src[i + 1] === '=' || src[i + 1] === '!') {
            i += 2;
            skip = true;
          } else if (src[i + 1] === '<' && src[i + 2] !== '=' && src[i + 2] !== '!') i = src.indexOf('>', i) + 1;
          else if (src[i + 1] === '<') {
            i += 3;
            skip = true;
          }
        }
        const inner = alternation();
        i++; // ')'
        return skip ? '' : inner;
      }
      case '[':
        return classPick();
      case '.':
        return 'a';
      case '^':
      case '$':
        return '';
      case '\\': {
        const e = src[i++] as string;
        if (e === 'b' || e === 'B') return '';
        const cls = escClass(e);
        return cls ? cls.sample : escChar(e);
      }
      default:
        return c;
    }
  };
  const quantified = (s: string): string => {
    const q = src[i];
    let n = 1;
    if (q === '*' || q === '?') {
      n = 0;
      i++;
    } else if (q === '+') i++;
    else if (q === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i));
      if (m) {
        n = Number(m[1]);
        i += m[0].length;
      }
    }
    if (src[i] === '?' && n !== 1) i++;
    else if (src[i] === '?' && (q === '+' || q === '{')) i++;
    return s.repeat(n);
  };
  const sequence = (): string => {
    let out = '';
    while (i < src.length && src[i] !== '|' && src[i] !== ')') {
      const a = atom();
      out += quantified(a ?? '');
    }
    return out;
  };
  const alternation = (): string => {
    const first = sequence();
    while (src[i] === '|') {
      i++;
      sequence();
    }
    return first;
  };
  return alternation();
}

/** Join the pieces a field needs: prefix first, suffix last, contained pieces in between. */
function materialize(p: SlotPlan): string | number | undefined {
  if (p.num !== undefined) return p.num;
  if (p.exact !== undefined) return p.exact;
  const pieces = [p.prefix.join(''), p.infix.join(' '), p.suffix.join('')].filter((x) => x !== '');
  if (pieces.length > 0) return pieces.join(' ');
  return p.present || p.prefix.length + p.infix.length + p.suffix.length > 0 ? 'present' : undefined;
}

function add(plans: Map<Slot, SlotPlan>, slot: Slot, spec: ValueSpec): void {
  let p = plans.get(slot);
  if (!p) plans.set(slot, (p = { prefix: [], infix: [], suffix: [], present: false, refs: [] }));
  switch (spec.place) {
    case 'exact':
      p.exact ??= spec.sample;
      break;
    case 'prefix':
      p.prefix.push(spec.sample);
      break;
    case 'suffix':
      p.suffix.push(spec.sample);
      break;
    case 'infix':
      p.infix.push(spec.sample);
      break;
    case 'number':
      p.num ??= spec.sample;
      break;
    case 'regex': {
      const s = regexSample(spec.re);
      if (spec.re.source.startsWith('^') && spec.re.source.endsWith('$')) p.exact ??= s;
      else if (spec.re.source.startsWith('^')) p.prefix.push(s);
      else if (spec.re.source.endsWith('$')) p.suffix.push(s);
      else p.infix.push(s);
      break;
    }
    case 'present':
      p.present = true;
      break;
    case 'absent':
      break;
    case 'fieldref':
      p.refs.push({ other: spec.other });
      break;
  }
}

/**
 * An event the rule matches, or undefined when none of the tried candidates does (tried: up to
 * `maxTries` combinations of the condition's alternatives and of each field's listed values).
 */
export function synthesizeEvent(rule: CompiledRule, maxTries = 400): Record<string, unknown> | undefined {
  const view = new EventView();
  let tries = 0;
  for (const plan of plans(rule.condition, rule.searches)) {
    for (let variant = 0; variant < 6; variant++) {
      if (++tries > maxTries) return undefined;
      const slots = new Map<Slot, SlotPlan>();
      for (const choice of plan) {
        const s = rule.searches.get(choice.search) as CompiledSearch;
        if (s.kind === 'keywords') {
          const first = s.keywords.samples;
          const slot = s.keywords.slots[0];
          if (!slot) continue;
          const picks = s.keywords.all ? first : [first[choice.alt] ?? ''];
          for (const k of picks) add(slots, slot, { place: 'infix', sample: k });
          continue;
        }
        for (const leaf of s.alternatives[choice.alt] ?? []) {
          const opts = leaf.spec.options;
          if (leaf.spec.all) for (const o of opts) add(slots, leaf.spec.slot, o);
          else {
            const o = opts[(variant + choice.alt) % opts.length];
            if (o) add(slots, leaf.spec.slot, o);
          }
        }
      }
      const event = skeletonEvent(rule.category);
      const refs: [Slot, Slot][] = [];
      for (const [slot, p] of slots) {
        const v = materialize(p);
        if (v !== undefined) slot.set(event, v);
        for (const r of p.refs) refs.push([slot, r.other]);
      }
      for (const [slot, other] of refs) {
        const v = other.get(event);
        const value = typeof v === 'string' || typeof v === 'number' ? v : 'synthesized-ref';
        if (v === undefined) other.set(event, value);
        slot.set(event, value);
      }
      if (rule.test(view.reset(event))) return event;
    }
  }
  return undefined;
}
