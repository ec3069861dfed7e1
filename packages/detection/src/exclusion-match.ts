import type { Exclusion, ProtectionModule } from '@yamori/protocol';

/**
 * Pure matching of policy exclusions against what an engine is about to act on. An exclusion
 * weakens protection, so every doubt (unparseable expiry, empty subject field) means "no match".
 */

/** What a detection or exec decision is about. Absent fields never match an exclusion. */
export interface ExclusionSubject {
  module: ProtectionModule;
  sha256?: string | undefined;
  /** Executable or file path the action targets. */
  path?: string | undefined;
  /** Executable path of the parent process (parent_child exclusions). */
  parentPath?: string | undefined;
  signer?: string | undefined;
  package?: string | undefined;
  ruleId?: string | undefined;
}

const regexCache = new Map<string, RegExp>();

/**
 * Glob → anchored RegExp. `*` and `?` stay within one path segment, `**` crosses segments:
 * `/tmp/**` matches `/tmp/a` and `/tmp/a/b`, `/home/** /x` (without the space) matches `/home/x`
 * and `/home/a/b/x`. Every other character is literal (no character classes, no braces).
 */
export function globToRegExp(glob: string): RegExp {
  const hit = regexCache.get(glob);
  if (hit) return hit;
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const atSegmentStart = i === 0 || glob[i - 1] === '/';
        const followedBySlash = glob[i + 2] === '/';
        if (atSegmentStart && followedBySlash) {
          re += '(?:.*/)?'; // `**/` : zero or more whole segments
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else {
      re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  const compiled = new RegExp(`^${re}$`, 's');
  if (regexCache.size > 4096) regexCache.clear();
  regexCache.set(glob, compiled);
  return compiled;
}

export function matchGlob(glob: string, path: string): boolean {
  return globToRegExp(glob).test(path);
}

/** True while the exclusion has not expired at `now` (ms since epoch). No expiry = forever. */
export function isExclusionActive(ex: Exclusion, now: number): boolean {
  if (ex.expiresAt === undefined || ex.expiresAt === null) return true;
  const t = Date.parse(ex.expiresAt);
  return Number.isFinite(t) && now < t;
}

function appliesToModule(ex: Exclusion, module: ProtectionModule): boolean {
  return !ex.modules || ex.modules.length === 0 || ex.modules.includes(module);
}

function matchesKind(ex: Exclusion, s: ExclusionSubject): boolean {
  switch (ex.kind) {
    case 'sha256':
      return s.sha256 !== undefined && s.sha256.toLowerCase() === ex.value.toLowerCase();
    case 'path':
      return s.path !== undefined && matchGlob(ex.value, s.path);
    case 'signer':
      return s.signer !== undefined && s.signer === ex.value;
    case 'package':
      return s.package !== undefined && s.package === ex.value;
    case 'parent_child':
      return (
        ex.parent !== undefined &&
        s.parentPath !== undefined &&
        s.path !== undefined &&
        matchGlob(ex.parent, s.parentPath) &&
        matchGlob(ex.value, s.path)
      );
    case 'rule':
      return s.ruleId !== undefined && s.ruleId === ex.value;
  }
}

/** Does this one exclusion cover the subject at `now`? */
export function exclusionMatches(ex: Exclusion, subject: ExclusionSubject, now: number): boolean {
  return appliesToModule(ex, subject.module) && isExclusionActive(ex, now) && matchesKind(ex, subject);
}

/** The first exclusion (in policy order) that covers the subject, or undefined. */
export function findExclusion(
  exclusions: readonly Exclusion[],
  subject: ExclusionSubject,
  now: number,
): Exclusion | undefined {
  return exclusions.find((ex) => exclusionMatches(ex, subject, now));
}

export interface ExclusionIndex {
  readonly size: number;
  /** The kinds present, so a caller only computes what some exclusion can match (e.g. a file's package). */
  readonly kinds: ReadonlySet<Exclusion['kind']>;
  find(subject: ExclusionSubject, now: number): Exclusion | undefined;
}

/**
 * Index a policy's exclusions once (hash-keyed lookups for sha256/signer/package/rule, compiled
 * globs for the rest) for the exec hot path. Returns the same answers as `findExclusion`, except
 * that among several matches the order of preference is by kind, not by policy position.
 */
export function indexExclusions(exclusions: readonly Exclusion[]): ExclusionIndex {
  interface Compiled {
    ex: Exclusion;
    modules: readonly ProtectionModule[] | undefined;
    expires: number;
    re: RegExp;
    parentRe: RegExp | undefined;
  }
  const byKey = new Map<string, Exclusion[]>();
  // Globs bucketed by their first literal path segment ('/opt/'), so an exec in /usr/bin is not
  // tested against every glob under /opt; globs that start with a wildcard go to `anywhere`.
  const bySegment = new Map<string, Compiled[]>();
  const anywhere: Compiled[] = [];
  const segmentOf = (p: string): string | undefined => {
    const end = p.indexOf('/', 1);
    return p.startsWith('/') && end > 0 ? p.slice(0, end + 1) : undefined;
  };
  for (const ex of exclusions) {
    if (ex.kind === 'path' || ex.kind === 'parent_child') {
      if (ex.kind === 'parent_child' && ex.parent === undefined) continue; // can never match
      const expires = ex.expiresAt === undefined || ex.expiresAt === null ? Infinity : Date.parse(ex.expiresAt);
      const wild = ex.value.search(/[*?]/);
      const seg = segmentOf(wild < 0 ? ex.value : ex.value.slice(0, wild));
      let bucket = anywhere;
      if (seg !== undefined) {
        bucket = bySegment.get(seg) ?? [];
        bySegment.set(seg, bucket);
      }
      bucket.push({
        ex,
        modules: ex.modules && ex.modules.length > 0 ? ex.modules : undefined,
        expires: Number.isFinite(expires) || expires === Infinity ? expires : -Infinity,
        re: globToRegExp(ex.value),
        parentRe: ex.parent !== undefined ? globToRegExp(ex.parent) : undefined,
      });
      continue;
    }
    const key = `${ex.kind}\0${ex.kind === 'sha256' ? ex.value.toLowerCase() : ex.value}`;
    const list = byKey.get(key);
    if (list) list.push(ex);
    else byKey.set(key, [ex]);
  }
  const keyed = (kind: string, value: string | undefined, s: ExclusionSubject, now: number) => {
    if (value === undefined || byKey.size === 0) return undefined;
    return byKey.get(`${kind}\0${value}`)?.find((ex) => exclusionMatches(ex, s, now));
  };
  const scan = (list: readonly Compiled[] | undefined, s: ExclusionSubject & { path: string }, now: number) => {
    if (!list) return undefined;
    for (const c of list) {
      if (now >= c.expires || (c.modules && !c.modules.includes(s.module))) continue;
      if (c.parentRe) {
        if (s.parentPath !== undefined && c.re.test(s.path) && c.parentRe.test(s.parentPath)) return c.ex;
      } else if (c.re.test(s.path)) return c.ex;
    }
    return undefined;
  };
  const globMatch = (s: ExclusionSubject, now: number): Exclusion | undefined => {
    const path = s.path;
    if (path === undefined) return undefined;
    const seg = segmentOf(path);
    return (seg !== undefined ? scan(bySegment.get(seg), { ...s, path }, now) : undefined) ?? scan(anywhere, { ...s, path }, now);
  };
  return {
    size: exclusions.length,
    kinds: new Set(exclusions.map((e) => e.kind)),
    find(s, now) {
      return (
        keyed('sha256', s.sha256?.toLowerCase(), s, now) ??
        keyed('signer', s.signer, s, now) ??
        keyed('package', s.package, s, now) ??
        keyed('rule', s.ruleId, s, now) ??
        globMatch(s, now)
      );
    },
  };
}
