import { matchGlob } from '@yamori/detection';
import type { ParentChildRule } from '@yamori/protocol';

/**
 * Parent→child execution rules (policy `modules.behavior.parentChild`): the first rule whose child
 * glob matches the program about to run and whose parent glob matches the exec'ing image or one of
 * its ancestors decides. Evaluated while the exec is held, so a deny stops the child before its
 * first instruction.
 */

/** How far up the tree a parent glob looks (soffice.bin → sh → curl is two levels). */
export const PARENT_DEPTH = 4;

export interface ParentChildHit {
  rule: ParentChildRule;
  /** The ancestor image that matched the rule's parent glob. */
  parent: string;
}

export function matchParentChild(
  rules: readonly ParentChildRule[] | undefined,
  child: string,
  lineage: readonly (string | undefined)[],
): ParentChildHit | undefined {
  if (!rules || rules.length === 0) return undefined;
  const images = lineage.slice(0, PARENT_DEPTH);
  for (const rule of rules) {
    if (!matchGlob(rule.child, child)) continue;
    const parent = images.find((p) => p !== undefined && matchGlob(rule.parent, p));
    if (parent !== undefined) return { rule, parent };
  }
  return undefined;
}

/**
 * A file that a deny rule names as a child must reach the agent on every exec (no kernel ignore
 * mark): whether it may run depends on who starts it, not on its content.
 */
export function needsEveryExec(rules: readonly ParentChildRule[] | undefined, child: string): boolean {
  return rules?.some((r) => r.action === 'deny' && matchGlob(r.child, child)) ?? false;
}
