export { parseSigmaRule, KNOWN_MODIFIERS } from './parse.ts';
export { parseCondition, type CondNode } from './condition.ts';
export { compileRule, ruleResult, type CompiledRule, type CompiledSearch } from './compile.ts';
export { compileRules, createSigmaEngine, type SigmaEngine, type EngineOptions, type EngineStats } from './engine.ts';
export { loadSigmaDir, loadSigmaPack } from './loader.ts';

export {
  CATEGORIES,
  CATEGORY_MAPS,
  UNSUPPORTED_FIELDS,
  eventCategories,
  resolveField,
  resolveLogsource,
  skeletonEvent,
  type Category,
  type CategoryMap,
  type FieldValue,
} from './field-map.ts';
export * from './types.ts';
export { synthesizeEvent, regexSample } from './synthesize.ts';
