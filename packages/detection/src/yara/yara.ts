// The YARA wrapper: compile rule files (from strings) into a ruleset with per-file, per-rule
// errors, and scan buffers with a size bound and a timeout. libyara runs in a tiny N-API addon
// (@yamori/yara-native, ADR 0004) on the libuv thread pool; when the addon is missing, every
// function here says so instead of throwing at import time.
import { loadYaraNative, type NativeDiagnostic, type NativeRuleMatch, type NativeRules, type YaraNative } from '@yamori/yara-native';
import { enclosingRule, escapeMatchData, ruleNamedInMessage, timeoutSeconds } from './rule-source.ts';

export interface YaraRuleFile {
  /** Shown in errors: a file name, or "pack/file.yar" for tenant packs. */
  name: string;
  source: string;
  /** YARA namespace; rules in different namespaces may share names. Default "default". */
  namespace?: string;
}

export interface YaraDiagnostic {
  level: 'error' | 'warning';
  file: string;
  line: number;
  /** The rule the message is about, when it can be told (null: outside any rule, e.g. an import). */
  rule: string | null;
  message: string;
}

export interface YaraStringMatch {
  /** Pattern identifier, e.g. "$a". */
  identifier: string;
  offset: number;
  length: number;
  /** The first bytes of the match (up to maxDataBytes), hex. */
  dataHex: string;
  /** The same bytes, printable ASCII as is and the rest as \xNN (like `yara -s`). */
  dataText: string;
}

export interface YaraMatch {
  rule: string;
  namespace: string;
  tags: string[];
  meta: Record<string, string | number | boolean | null>;
  strings: YaraStringMatch[];
}

export interface YaraScanOptions {
  /** Data longer than this is not scanned (result `too_large`). Default 64 MiB. */
  maxBytes?: number;
  /** Wall-clock bound; libyara counts whole seconds, so this is rounded up. Default 30 s. */
  timeoutMs?: number;
  /** Stop at the first match of each pattern (faster, fewer offsets). Default false. */
  fastMode?: boolean;
  /** Offsets reported per pattern. Default 16. */
  maxMatchesPerString?: number;
  /** Matched bytes kept per offset. Default 64. */
  maxDataBytes?: number;
}

export type YaraScanResult =
  | { ok: true; matches: YaraMatch[] }
  | { ok: false; error: { code: 'too_large' | 'timeout' | 'failed' | 'unavailable'; message: string } };

export interface YaraRuleset {
  readonly ruleCount: number;
  /** The rule files compiled in, in order. */
  readonly files: readonly string[];
  scan(data: Buffer, options?: YaraScanOptions): Promise<YaraScanResult>;
}

export interface YaraCompileResult {
  /** Null when nothing compiled, or (strict mode) when any file had an error. */
  ruleset: YaraRuleset | null;
  errors: YaraDiagnostic[];
  warnings: YaraDiagnostic[];
  accepted: string[];
  rejected: string[];
}

export interface YaraCompileOptions {
  /**
   * `strict`: any error rejects the whole set (rule-pack uploads: bad input changes nothing).
   * `skip-broken` (default): files with errors are left out and reported, the rest compile.
   */
  mode?: 'strict' | 'skip-broken';
}

export const YARA_DEFAULTS = Object.freeze({
  maxBytes: 64 * 1024 * 1024,
  timeoutMs: 30_000,
  maxMatchesPerString: 16,
  maxDataBytes: 64,
});

export class YaraUnavailableError extends Error {
  readonly code = 'YARA_UNAVAILABLE';
}

/** Whether libyara can be used here, with the library version or the reason it cannot. */
export function yaraAvailability(): { ok: true; libyaraVersion: string } | { ok: false; reason: string } {
  const l = loadYaraNative();
  return l.ok ? { ok: true, libyaraVersion: l.native.libyaraVersion } : { ok: false, reason: l.reason };
}

function native(): YaraNative {
  const l = loadYaraNative();
  if (!l.ok) throw new YaraUnavailableError(l.reason);
  return l.native;
}

function toDiagnostic(d: NativeDiagnostic, sources: ReadonlyMap<string, string>): YaraDiagnostic {
  const file = d.file ?? '?';
  const src = sources.get(file);
  const rule = d.rule ?? ruleNamedInMessage(d.message) ?? (src === undefined ? null : enclosingRule(src, d.line));
  return { level: d.level, file, line: d.line, rule, message: d.message };
}

function toMatch(m: NativeRuleMatch): YaraMatch {
  const meta: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of m.meta) if (!(k in meta)) meta[k] = v;
  return {
    rule: m.rule,
    namespace: m.namespace,
    tags: m.tags,
    meta,
    strings: m.strings.map((s) => ({
      identifier: s.identifier,
      offset: s.offset,
      length: s.length,
      dataHex: s.data.toString('hex'),
      dataText: escapeMatchData(s.data),
    })),
  };
}

function makeRuleset(y: YaraNative, rules: NativeRules, files: string[]): YaraRuleset {
  const ruleCount = y.ruleCount(rules);
  return {
    ruleCount,
    files,
    async scan(data, options = {}) {
      const maxBytes = options.maxBytes ?? YARA_DEFAULTS.maxBytes;
      if (data.length > maxBytes) {
        return { ok: false, error: { code: 'too_large', message: `${data.length} bytes is over the YARA size bound of ${maxBytes} bytes: not scanned` } };
      }
      try {
        const raw = await y.scan(rules, data, {
          timeoutSec: timeoutSeconds(options.timeoutMs ?? YARA_DEFAULTS.timeoutMs),
          fastMode: options.fastMode ?? false,
          maxMatchesPerString: options.maxMatchesPerString ?? YARA_DEFAULTS.maxMatchesPerString,
          maxDataBytes: options.maxDataBytes ?? YARA_DEFAULTS.maxDataBytes,
        });
        return { ok: true, matches: raw.map(toMatch) };
      } catch (err) {
        const e = err as Error & { code?: string };
        return { ok: false, error: { code: e.code === 'YARA_TIMEOUT' ? 'timeout' : 'failed', message: e.message } };
      }
    },
  };
}

/**
 * Compiles rule files into one ruleset. Every compile error names its file, line, rule and
 * reason. Throws YaraUnavailableError only when the libyara addon is not there.
 */
export async function compileYaraRules(files: readonly YaraRuleFile[], options: YaraCompileOptions = {}): Promise<YaraCompileResult> {
  const y = native();
  const mode = options.mode ?? 'skip-broken';
  const byName = new Map<string, string>();
  for (const f of files) byName.set(f.name, f.source);
  const toNative = (f: YaraRuleFile) => ({ namespace: f.namespace ?? 'default', name: f.name, source: f.source });

  // Fast path: everything compiles together.
  const whole = await y.compile(files.map(toNative));
  const warnings = whole.diagnostics.filter((d) => d.level === 'warning').map((d) => toDiagnostic(d, byName));
  if (whole.rules) {
    const names = files.map((f) => f.name);
    return { ruleset: files.length ? makeRuleset(y, whole.rules, names) : null, errors: [], warnings, accepted: names, rejected: [] };
  }

  // Something failed. libyara stops at the first bad source, so check each file on its own to
  // report every broken file, then compile the good ones together (dropping any file that only
  // fails in combination, e.g. a rule name already used by an earlier file).
  const errors: YaraDiagnostic[] = [];
  const good: YaraRuleFile[] = [];
  for (const f of files) {
    const r = await y.compile([toNative(f)]);
    if (r.rules) good.push(f);
    else errors.push(...r.diagnostics.filter((d) => d.level === 'error').map((d) => toDiagnostic(d, byName)));
  }
  const rejected = new Set(files.filter((f) => !good.includes(f)).map((f) => f.name));
  if (mode === 'strict' && errors.length === 0) {
    errors.push(...whole.diagnostics.filter((d) => d.level === 'error').map((d) => toDiagnostic(d, byName)));
    for (const e of errors) rejected.add(e.file);
  }
  if (mode === 'strict') {
    return { ruleset: null, errors, warnings, accepted: [], rejected: [...rejected] };
  }
  let set = good;
  for (let attempt = 0; set.length > 0; attempt++) {
    const r = await y.compile(set.map(toNative));
    if (r.rules) {
      const names = set.map((f) => f.name);
      return { ruleset: makeRuleset(y, r.rules, names), errors, warnings, accepted: names, rejected: [...rejected] };
    }
    const errs = r.diagnostics.filter((d) => d.level === 'error').map((d) => toDiagnostic(d, byName));
    errors.push(...errs);
    const bad = new Set(errs.map((e) => e.file));
    const next = set.filter((f) => !bad.has(f.name));
    if (next.length === set.length || attempt > files.length) {
      // The error could not be tied to a file: give up on the set rather than loop.
      for (const f of set) rejected.add(f.name);
      break;
    }
    for (const b of bad) rejected.add(b);
    set = next;
  }
  return { ruleset: null, errors, warnings, accepted: [], rejected: [...rejected] };
}

/** One line per diagnostic: `file:line: rule NAME: message`. */
export function formatYaraDiagnostic(d: YaraDiagnostic): string {
  return `${d.file}:${d.line}: ${d.level}${d.rule ? ` in rule ${d.rule}` : ''}: ${d.message}`;
}
