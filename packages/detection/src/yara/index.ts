export {
  compileYaraRules,
  formatYaraDiagnostic,
  yaraAvailability,
  YaraUnavailableError,
  YARA_DEFAULTS,
  type YaraRuleFile,
  type YaraDiagnostic,
  type YaraStringMatch,
  type YaraMatch,
  type YaraScanOptions,
  type YaraScanResult,
  type YaraRuleset,
  type YaraCompileResult,
  type YaraCompileOptions,
} from './yara.ts';
export { enclosingRule, escapeMatchData } from './rule-source.ts';
