// Public face of the Sigma engine. Names carry "Sigma" because they share the package namespace
// with the YARA and file engines.
export { parseSigmaRule, KNOWN_MODIFIERS as SIGMA_MODIFIERS } from './parse.ts';
export { parseCondition as parseSigmaCondition, type CondNode as SigmaCondition } from './condition.ts';
export { compileRule as compileSigmaRule, type CompiledRule as CompiledSigmaRule } from './compile.ts';
export {
  compileRules as compileSigmaRules,
  createSigmaEngine,
  type SigmaEngine,
  type EngineOptions as SigmaEngineOptions,
  type EngineStats as SigmaEngineStats,
} from './engine.ts';
export { loadSigmaDir, loadSigmaPack } from './loader.ts';
export {
  createSequenceEngine,
  parseSigmaCorrelation,
  resolveCorrelations,
  PROCESS_TREE_GROUP,
  type SigmaCorrelation,
  type ResolvedCorrelation,
  type SequenceEngine,
  type SequenceInput,
  type SequenceMatch,
} from './correlation.ts';
export { synthesizeEvent as synthesizeSigmaEvent } from './synthesize.ts';
export {
  CATEGORIES as SIGMA_CATEGORIES,
  CATEGORY_MAPS as SIGMA_CATEGORY_MAPS,
  UNSUPPORTED_FIELDS as SIGMA_UNSUPPORTED_FIELDS,
  eventCategories as sigmaCategoriesOf,
  resolveField as resolveSigmaField,
  resolveLogsource as resolveSigmaLogsource,
  type Category as SigmaCategory,
} from './field-map.ts';
export {
  RESPONSE_ACTIONS as SIGMA_RESPONSE_ACTIONS,
  RULE_LEVELS as SIGMA_LEVELS,
  type ResponseAction as SigmaResponseAction,
  type RuleLevel as SigmaLevel,
  type SigmaRule,
  type RuleError as SigmaRuleError,
  type RuleMatch as SigmaMatch,
  type ParseResult as SigmaParseResult,
  type LogSource as SigmaLogSource,
  type SearchDef as SigmaSearch,
  type FieldCondition as SigmaFieldCondition,
  type SigmaScalar,
  type YamoriExtension as SigmaYamoriExtension,
} from './types.ts';

/** Yamori's own rule pack (Sigma YAML with a `yamori:` response block), shipped as detection content. */
export const YAMORI_SIGMA_RULES_DIR: string = new URL('../../rules/yamori', import.meta.url).pathname;
