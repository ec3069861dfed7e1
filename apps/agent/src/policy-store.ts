import { join } from 'node:path';
import { Policy, parseWith } from '@yamori/protocol';
import { indexExclusions, type ExclusionIndex } from '@yamori/detection';
import { readJsonIfExists, writeFileAtomic } from './atomic-file.ts';

/**
 * Keeps the last good policy on disk (`policy.json`, atomic write + rename, 0600) and in memory.
 * A new document is applied only if it validates; a bad one is reported in `problem` and the old
 * one stays in force. Derived lookups (exclusion index, blocklist set) are built once per apply.
 */
export interface AppliedPolicy {
  revision: number;
  document: Policy;
  exclusions: ExclusionIndex;
  blocklist: ReadonlySet<string>;
  appliedAt: string;
}

export interface PolicyStore {
  /** The policy in force, or undefined before the first one arrives. */
  current(): AppliedPolicy | undefined;
  /** Validate and apply; returns true if applied. Never throws on a bad document. */
  apply(revision: number, document: unknown): boolean;
  /** The last rejection (cleared by a successful apply), for health.problems. */
  problem(): string | undefined;
  onChange(listener: (p: AppliedPolicy) => void): void;
}

export interface PolicyStoreDeps {
  stateDir: string;
  now: () => number;
  log?: (msg: string) => void;
}

const FILE = 'policy.json';

function derive(revision: number, document: Policy, appliedAt: string): AppliedPolicy {
  return {
    revision,
    document,
    exclusions: indexExclusions(document.exclusions),
    blocklist: new Set(document.blocklist.map((b) => b.sha256.toLowerCase())),
    appliedAt,
  };
}

export function createPolicyStore(deps: PolicyStoreDeps): PolicyStore {
  const path = join(deps.stateDir, FILE);
  let current: AppliedPolicy | undefined;
  let problem: string | undefined;
  const listeners: ((p: AppliedPolicy) => void)[] = [];

  try {
    const raw = readJsonIfExists(path) as { revision?: unknown; document?: unknown; appliedAt?: unknown } | undefined;
    if (raw !== undefined) {
      if (typeof raw.revision !== 'number') throw new Error('no revision');
      const doc = parseWith(Policy, raw.document, 'stored policy');
      current = derive(raw.revision, doc, typeof raw.appliedAt === 'string' ? raw.appliedAt : new Date(deps.now()).toISOString());
    }
  } catch (err) {
    problem = `stored policy ${path} is unreadable (${(err as Error).message}); running without a policy until the server sends one`;
    deps.log?.(problem);
  }

  return {
    current: () => current,
    problem: () => problem,
    onChange(l) {
      listeners.push(l);
    },
    apply(revision, document) {
      let doc: Policy;
      try {
        doc = parseWith(Policy, document, `policy revision ${revision}`);
      } catch (err) {
        problem = `rejected ${(err as Error).message.slice(0, 900)}; keeping revision ${current?.revision ?? 'none'}`;
        deps.log?.(problem);
        return false;
      }
      const appliedAt = new Date(deps.now()).toISOString();
      const next = derive(revision, doc, appliedAt);
      writeFileAtomic(path, JSON.stringify({ revision, document: doc, appliedAt }));
      current = next;
      problem = undefined;
      for (const l of listeners) l(next);
      return true;
    },
  };
}
