import type { IndicatorType } from '@yamori/protocol';

/**
 * The part of the STIX 2.1 patterning language that names single values: comparisons
 * `[type:path = 'value']` joined by OR (inside or between brackets). AND, FOLLOWEDBY, NOT,
 * qualifiers and other operators describe combinations, not one indicator, and are refused. Pure.
 */
export type PatternTerm =
  | { ok: true; type: IndicatorType; value: string }
  | { ok: false; unsupported: boolean; reason: string; value?: string };

export function parseStixPattern(pattern: string): { terms: PatternTerm[] } | { error: string } {
  const tokens = tokenize(pattern);
  if ('error' in tokens) return tokens;
  let depth = 0;
  const seq: Tok[] = [];
  for (const t of tokens.list) {
    if (t.k === '[' || t.k === '(') depth++;
    else if (t.k === ']' || t.k === ')') {
      depth--;
      if (depth < 0) return { error: 'unbalanced brackets' };
    } else seq.push(t);
  }
  if (depth !== 0) return { error: 'unbalanced brackets' };
  const terms: PatternTerm[] = [];
  let i = 0;
  while (i < seq.length) {
    const path = seq[i];
    const op = seq[i + 1];
    const val = seq[i + 2];
    if (path?.k !== 'word' || op?.k !== 'op' || val?.k !== 'str') {
      const what = path?.k === 'word' ? path.v : (path?.v ?? 'end');
      const keyword = [path, op, val].find((t) => t?.k === 'word' && /^[A-Z]+$/.test(t.v));
      return {
        error: keyword
          ? `pattern uses ${keyword.v}: only comparisons joined by OR name single indicators`
          : `cannot read comparison at "${what}"`,
      };
    }
    terms.push(mapComparison(path.v, op.v, val.v));
    i += 3;
    const next = seq[i];
    if (next === undefined) break;
    if (next.k === 'word' && next.v === 'OR') {
      i++;
      continue;
    }
    return { error: `pattern uses ${next.v}: only comparisons joined by OR name single indicators` };
  }
  if (terms.length === 0) return { error: 'empty pattern' };
  return { terms };
}

function mapComparison(path: string, op: string, value: string): PatternTerm {
  const colon = path.indexOf(':');
  const objectType = path.slice(0, colon);
  const prop = path.slice(colon + 1).replace(/'/g, '');
  if (op !== '=' && !(op === 'ISSUBSET' && (objectType === 'ipv4-addr' || objectType === 'ipv6-addr'))) {
    return { ok: false, unsupported: true, reason: `operator ${op} on ${path} is not a single value`, value };
  }
  if (objectType === 'file' && prop.startsWith('hashes.')) {
    const algo = prop.slice('hashes.'.length).toUpperCase().replace(/-/g, '');
    if (algo === 'SHA256') return { ok: true, type: 'sha256', value };
    return { ok: false, unsupported: true, reason: `${prop.slice(7)} hashes are not supported (sha256 only)`, value };
  }
  if ((objectType === 'ipv4-addr' || objectType === 'ipv6-addr') && prop === 'value') {
    return { ok: true, type: value.includes('/') ? 'cidr' : 'ip', value };
  }
  if (objectType === 'network-traffic' && (prop === 'dst_ref.value' || prop === 'src_ref.value')) {
    return { ok: true, type: value.includes('/') ? 'cidr' : 'ip', value };
  }
  if (objectType === 'domain-name' && prop === 'value') return { ok: true, type: 'domain', value };
  if (objectType === 'url' && prop === 'value') return { ok: true, type: 'url', value };
  return { ok: false, unsupported: true, reason: `STIX object path ${path} is not supported`, value };
}

type Tok = { k: '[' | ']' | '(' | ')'; v: string } | { k: 'word' | 'op' | 'str'; v: string };

function tokenize(s: string): { list: Tok[] } | { error: string } {
  const list: Tok[] = [];
  let i = 0;
  const readString = (): string | undefined => {
    // at the opening quote
    let out = '';
    i++;
    while (i < s.length) {
      const c = s[i]!;
      if (c === '\\') {
        const n = s[i + 1];
        if (n === "'" || n === '\\') {
          out += n;
          i += 2;
          continue;
        }
        return undefined;
      }
      if (c === "'") {
        i++;
        return out;
      }
      out += c;
      i++;
    }
    return undefined;
  };
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '[' || c === ']' || c === '(' || c === ')') {
      list.push({ k: c, v: c });
      i++;
    } else if (c === "'") {
      const str = readString();
      if (str === undefined) return { error: 'unterminated or badly escaped string' };
      list.push({ k: 'str', v: str });
    } else if (/[=!<>]/.test(c)) {
      const m = /^(!=|<=|>=|=|<|>)/.exec(s.slice(i));
      if (!m) return { error: `unexpected "${c}"` };
      list.push({ k: 'op', v: m[1]! });
      i += m[1]!.length;
    } else if (/[A-Za-z0-9_\-:.*]/.test(c)) {
      let w = '';
      while (i < s.length) {
        const d = s[i]!;
        if (/[A-Za-z0-9_\-:.*]/.test(d)) {
          w += d;
          i++;
        } else if (d === "'" && w.endsWith('.')) {
          // a quoted path segment: file:hashes.'SHA-256'
          const seg = readString();
          if (seg === undefined) return { error: 'unterminated quoted path segment' };
          w += `'${seg}'`;
        } else break;
      }
      if (/^(h|b)$/.test(w) && s[i] === "'") return { error: 'binary and hex string literals are not supported' };
      const upper = w.toUpperCase();
      if (['ISSUBSET', 'ISSUPERSET', 'LIKE', 'MATCHES', 'IN'].includes(upper)) list.push({ k: 'op', v: upper });
      else list.push({ k: 'word', v: w.includes(':') ? w : upper });
    } else return { error: `unexpected "${c}"` };
  }
  return { list };
}
