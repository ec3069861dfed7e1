// Typed loader for the libyara addon (build/Release/yamori_yara.node). The YARA wrapper in
// @yamori/detection is the only intended user; it turns these raw shapes into domain results.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type NativeRules = { readonly __yaraRules: unique symbol };

export interface NativeSource {
  namespace: string;
  name: string;
  source: string;
}

export interface NativeDiagnostic {
  level: 'error' | 'warning';
  file: string | null;
  line: number;
  rule: string | null;
  message: string;
}

export interface NativeCompileResult {
  rules: NativeRules | null;
  diagnostics: NativeDiagnostic[];
  droppedWarnings: number;
}

export interface NativeStringMatch {
  identifier: string;
  offset: number;
  length: number;
  data: Buffer;
}

export interface NativeRuleMatch {
  rule: string;
  namespace: string;
  tags: string[];
  meta: [string, string | number | boolean | null][];
  strings: NativeStringMatch[];
}

export interface NativeScanOptions {
  timeoutSec?: number;
  fastMode?: boolean;
  maxMatchesPerString?: number;
  maxDataBytes?: number;
}

export interface YaraNative {
  readonly libyaraVersion: string;
  compile(sources: NativeSource[]): Promise<NativeCompileResult>;
  scan(rules: NativeRules, data: Buffer, options?: NativeScanOptions): Promise<NativeRuleMatch[]>;
  ruleCount(rules: NativeRules): number;
}

export type YaraNativeLoad = { ok: true; native: YaraNative } | { ok: false; reason: string };

let cached: YaraNativeLoad | undefined;

/** Loads the addon once; says why when it is not there (not built, libyara missing). */
export function loadYaraNative(): YaraNativeLoad {
  if (cached) return cached;
  const path = fileURLToPath(new URL('../build/Release/yamori_yara.node', import.meta.url));
  if (!existsSync(path)) {
    cached = {
      ok: false,
      reason: `libyara addon not built (${path} missing): install libyara-dev (scripts/apt-ensure.sh libyara-dev) and run npm rebuild @yamori/yara-native`,
    };
    return cached;
  }
  try {
    const native = createRequire(import.meta.url)(path) as YaraNative;
    cached = { ok: true, native };
  } catch (err) {
    cached = { ok: false, reason: `libyara addon failed to load: ${(err as Error).message}` };
  }
  return cached;
}
