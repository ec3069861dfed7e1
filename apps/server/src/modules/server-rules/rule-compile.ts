import { compileSigmaRules, parseSigmaRule, type SigmaEngine, type SigmaRule, type SigmaRuleError } from '@yamori/detection';
import { InvalidInputError } from '../../lib/errors.ts';

/** Longest rule id and title an alert can carry (the Alert schema's ruleId and ruleName). */
const MAX_ID = 128;
const MAX_TITLE = 256;

const describe = (e: Pick<SigmaRuleError, 'line' | 'reason'>) => `line ${e.line ?? '?'}: ${e.reason}`;

/**
 * Parses and compiles one Sigma rule with the agents' engine, or throws a 400 naming the line
 * and the reason. Used by retro-hunts and by server rules, so both refuse the same rules the same way.
 */
export function compileOneSigmaRuleOrThrow(source: string, file: string): { rule: SigmaRule; engine: SigmaEngine } {
  const parsed = parseSigmaRule(source, file);
  if (!parsed.ok) throw new InvalidInputError(`rule rejected: ${describe(parsed.error)}`, [describe(parsed.error)]);
  const { engine, errors } = compileSigmaRules([parsed.rule]);
  const err = errors[0];
  if (err) throw new InvalidInputError(`rule rejected: ${describe(err)}`, [describe(err)]);
  return { rule: parsed.rule, engine };
}

/**
 * Like compileOneSigmaRuleOrThrow, for a rule stored on the server: it must name itself with an
 * `id:` (alerts and their dedup are keyed by it) and fit in an alert's rule id and name.
 */
export function compileServerRuleOrThrow(source: string): SigmaRule {
  const file = 'server-rule.yml';
  const { rule } = compileOneSigmaRuleOrThrow(source, file);
  const fail = (reason: string) => {
    const d = describe({ line: 1, reason });
    throw new InvalidInputError(`rule rejected: ${d}`, [d]);
  };
  // The parser names a rule without an id after its file and title.
  if (rule.id === `${file}#${rule.title}`) fail('a server rule needs an id: (a UUID, as Sigma recommends); alerts are keyed by it');
  if (rule.id.length > MAX_ID) fail(`the rule id is ${rule.id.length} characters long, over ${MAX_ID}`);
  if (rule.title.length > MAX_TITLE) fail(`the title is ${rule.title.length} characters long, over ${MAX_TITLE}`);
  return rule;
}
