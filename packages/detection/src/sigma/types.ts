/**
 * Shapes shared by the Sigma parser, compiler and engine. A parsed rule keeps the source line of
 * every search and field so that compile errors can point at the offending YAML line.
 */

/** Response actions a Yamori rule may ask for in its `yamori:` block (honoured in block mode only). */
export const RESPONSE_ACTIONS = ['alert', 'kill_process', 'kill_tree', 'quarantine_file', 'isolate_host'] as const;
export type ResponseAction = (typeof RESPONSE_ACTIONS)[number];

export const RULE_LEVELS = ['informational', 'low', 'medium', 'high', 'critical'] as const;
export type RuleLevel = (typeof RULE_LEVELS)[number];

/** A scalar as it appears in a detection: Sigma allows strings, numbers, booleans and null. */
export type SigmaScalar = string | number | boolean | null;

/** `Field|mod1|mod2: value(s)` inside a search map. */
export interface FieldCondition {
  readonly field: string;
  readonly modifiers: readonly string[];
  readonly values: readonly SigmaScalar[];
  readonly line: number;
}

/**
 * One named search under `detection:`. `maps` is an OR of ANDs: a single map is one alternative,
 * a YAML list of maps gives several. `keywords` holds field-less values (any of them, or all of
 * them with the `|all` key).
 */
export type SearchDef =
  | { readonly kind: 'fields'; readonly name: string; readonly line: number; readonly maps: readonly (readonly FieldCondition[])[] }
  | {
      readonly kind: 'keywords';
      readonly name: string;
      readonly line: number;
      readonly values: readonly SigmaScalar[];
      readonly modifiers: readonly string[];
    };

export interface LogSource {
  readonly product?: string;
  readonly category?: string;
  readonly service?: string;
  readonly definition?: string;
}

export interface YamoriExtension {
  readonly response: readonly ResponseAction[];
}

export interface SigmaRule {
  readonly file: string;
  readonly line: number;
  readonly title: string;
  readonly id: string;
  readonly status?: string;
  readonly description?: string;
  readonly references: readonly string[];
  readonly author?: string;
  readonly date?: string;
  readonly modified?: string;
  readonly tags: readonly string[];
  readonly level: RuleLevel;
  readonly falsepositives: readonly string[];
  readonly logsource: LogSource;
  readonly logsourceLine: number;
  readonly searches: ReadonlyMap<string, SearchDef>;
  /** One or more conditions (several are OR-ed, as older Sigma allowed). */
  readonly conditions: readonly string[];
  readonly conditionLine: number;
  readonly yamori?: YamoriExtension;
}

/** Why a rule was not loaded. `line` is 1-based where known. */
export interface RuleError {
  readonly file: string;
  readonly line?: number;
  readonly reason: string;
  readonly ruleId?: string;
  readonly title?: string;
  /** logsource category (or product/service) of the rule, for per-category reports. */
  readonly category?: string;
}

/** What `engine.match(event)` returns for each rule that matched. */
export interface RuleMatch {
  readonly id: string;
  readonly title: string;
  readonly level: RuleLevel;
  readonly status?: string;
  readonly tags: readonly string[];
  /** ATT&CK technique ids taken from `attack.tNNNN[.NNN]` tags, upper-case (T1059.004). */
  readonly techniques: readonly string[];
  readonly response: readonly ResponseAction[];
  readonly file: string;
}

export type ParseResult = { readonly ok: true; readonly rule: SigmaRule } | { readonly ok: false; readonly error: RuleError };
