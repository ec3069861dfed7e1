import { resolve } from 'node:path';

/** Intel service configuration, read once and frozen. Nothing else reads process.env. */
export interface IntelConfig {
  readonly dataDir: string;
  /** `sqlite:PATH` (default, in the data dir) or `postgres://…`. */
  readonly databaseUrl: string;
  readonly host: string;
  readonly port: number;
  /** A bootstrap admin key (YAMORI_INTEL_ADMIN_KEY); null: create keys with `yamori intel key add`. */
  readonly adminKey: string | null;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly maxSampleBytes: number;
  readonly sampleRetentionDays: number;
  /** AES-256-GCM key for samples at rest (created 0600 on first start). */
  readonly sampleKeyFile: string;
  readonly sandboxLeaseS: number;
  readonly sandboxMaxAttempts: number;
  readonly sandboxJobTimeoutS: number;
  /** Lifetime of feed indicators that carry no expiry of their own; null: until withdrawn. */
  readonly feedTtlDays: number | null;
  readonly maxImportBytes: number;
  /** MISP warninglist JSON files added to the built-in list. */
  readonly warninglistFiles: readonly string[];
  readonly maxLongPollS: number;
}

export interface IntelConfigInput {
  dataDir?: string | undefined;
  databaseUrl?: string | undefined;
  host?: string | undefined;
  port?: number | string | undefined;
  adminKey?: string | undefined;
  logLevel?: string | undefined;
  maxSampleBytes?: number | string | undefined;
  sampleRetentionDays?: number | string | undefined;
  sandboxLeaseS?: number | string | undefined;
  feedTtlDays?: number | string | undefined;
  warninglistFiles?: readonly string[] | undefined;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Validates everything at once and reports every problem in one error. `env` supplies YAMORI_INTEL_* defaults. */
export function loadIntelConfig(input: IntelConfigInput, env: Record<string, string | undefined> = {}): IntelConfig {
  const problems: string[] = [];
  const num = (name: string, raw: number | string | undefined, def: number, min: number, max: number): number => {
    const v = raw === undefined || raw === '' ? def : Number(raw);
    if (!Number.isFinite(v) || v < min || v > max) {
      problems.push(`${name} must be a number ${min}–${max} (got "${String(raw)}")`);
      return def;
    }
    return v;
  };
  const dataDir = resolve(input.dataDir ?? env['YAMORI_INTEL_DATA'] ?? '/var/lib/yamori-intel');
  const databaseUrl = input.databaseUrl ?? env['YAMORI_INTEL_DATABASE'] ?? `sqlite:${dataDir}/intel.db`;
  if (!/^(postgres(ql)?:\/\/|sqlite:)/.test(databaseUrl)) {
    problems.push(`--database must be postgres://user:pass@host/db or sqlite:/path (got "${databaseUrl}")`);
  }
  const host = input.host ?? env['YAMORI_INTEL_HOST'] ?? '127.0.0.1';
  const port = num('--port', input.port ?? env['YAMORI_INTEL_PORT'], 8444, 0, 65535);
  if (!Number.isInteger(port)) problems.push('--port must be an integer');
  const adminKey = input.adminKey ?? env['YAMORI_INTEL_ADMIN_KEY'] ?? null;
  if (adminKey !== null && adminKey.length < 24) problems.push('the admin key must be at least 24 characters');
  const logLevel = (input.logLevel ?? env['YAMORI_LOG_LEVEL'] ?? 'info') as IntelConfig['logLevel'];
  if (!LEVELS.includes(logLevel)) problems.push(`log level must be one of ${LEVELS.join(', ')} (got "${logLevel}")`);
  const ttlRaw = input.feedTtlDays ?? env['YAMORI_INTEL_FEED_TTL_DAYS'];
  const feedTtlDays = ttlRaw === '0' || ttlRaw === 0 ? null : num('feed TTL days', ttlRaw, 90, 0, 3650);
  const files = input.warninglistFiles ?? (env['YAMORI_INTEL_WARNINGLISTS'] ?? '').split(':').filter(Boolean);
  const config: IntelConfig = {
    dataDir,
    databaseUrl,
    host,
    port,
    adminKey,
    logLevel,
    maxSampleBytes: num('max sample bytes', input.maxSampleBytes ?? env['YAMORI_INTEL_MAX_SAMPLE_BYTES'], 32 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    sampleRetentionDays: num('sample retention days', input.sampleRetentionDays ?? env['YAMORI_INTEL_SAMPLE_RETENTION_DAYS'], 30, 0.001, 3650),
    sampleKeyFile: resolve(dataDir, 'sample.key'),
    sandboxLeaseS: num('sandbox lease seconds', input.sandboxLeaseS ?? env['YAMORI_INTEL_SANDBOX_LEASE_S'], 300, 5, 3600),
    sandboxMaxAttempts: 3,
    sandboxJobTimeoutS: 120,
    feedTtlDays,
    maxImportBytes: 256 * 1024 * 1024,
    warninglistFiles: files.map((f) => resolve(f)),
    maxLongPollS: 60,
  };
  if (problems.length > 0) throw new Error(`invalid intel configuration:\n  ${problems.join('\n  ')}`);
  return Object.freeze(config);
}
