import { hostname } from 'node:os';
import { resolve } from 'node:path';

/** Server configuration, read once and frozen. Nothing else reads process.env. */
export interface ServerConfig {
  readonly dataDir: string;
  /** `sqlite:PATH` (default, in the data dir) or `postgres://…`. */
  readonly databaseUrl: string;
  readonly host: string;
  readonly port: number;
  /** HTTPS with a generated CA unless explicitly turned off for development. */
  readonly tls: boolean;
  /** The URL agents and the console use to reach this server (goes into enrollment tokens). */
  readonly publicUrl: string;
  /** Extra names/IPs for the server certificate. */
  readonly certNames: readonly string[];
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Per-agent ingest budget: events per second (token bucket) and burst. */
  readonly agentEventsPerSecond: number;
  readonly agentEventsBurst: number;
  /** Largest accepted request body (compressed) and the largest a gzip body may inflate to. */
  readonly maxBodyBytes: number;
  readonly maxInflatedBytes: number;
  readonly maxLongPollS: number;
  /** Threat intelligence: base URL and this server's organization API key (both or neither). */
  readonly intelUrl: string | null;
  readonly intelKey: string | null;
}

export interface ConfigInput {
  dataDir?: string | undefined;
  databaseUrl?: string | undefined;
  host?: string | undefined;
  port?: number | string | undefined;
  insecureHttp?: boolean | undefined;
  publicUrl?: string | undefined;
  certNames?: readonly string[] | undefined;
  logLevel?: string | undefined;
  agentEventsPerSecond?: number | undefined;
  agentEventsBurst?: number | undefined;
  maxBodyBytes?: number | undefined;
  maxInflatedBytes?: number | undefined;
  maxLongPollS?: number | undefined;
  intelUrl?: string | undefined;
  intelKey?: string | undefined;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Validates everything at once and reports every problem in one error, so an operator fixes the
 * command line in one go. `env` supplies YAMORI_* defaults for what flags did not set.
 */
export function loadConfig(input: ConfigInput, env: Record<string, string | undefined> = {}): ServerConfig {
  const problems: string[] = [];
  const dataDir = resolve(input.dataDir ?? env['YAMORI_DATA'] ?? '/var/lib/yamori-server');
  const databaseUrl = input.databaseUrl ?? env['YAMORI_DATABASE'] ?? `sqlite:${dataDir}/yamori.db`;
  if (!/^(postgres(ql)?:\/\/|sqlite:)/.test(databaseUrl)) {
    problems.push(`--database must be postgres://user:pass@host/db or sqlite:/path (got "${databaseUrl}")`);
  }
  const host = input.host ?? env['YAMORI_HOST'] ?? '127.0.0.1';
  const portRaw = input.port ?? env['YAMORI_PORT'] ?? 8443;
  const port = typeof portRaw === 'number' ? portRaw : Number(portRaw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`--port must be 0–65535 (got "${String(portRaw)}")`);
  const tls = !(input.insecureHttp ?? env['YAMORI_INSECURE_HTTP'] === '1');
  const displayHost = host === '0.0.0.0' || host === '::' ? hostname() : host;
  const publicUrl = (input.publicUrl ?? env['YAMORI_PUBLIC_URL'] ?? `${tls ? 'https' : 'http'}://${displayHost}:${port}`).replace(/\/$/, '');
  try {
    new URL(publicUrl);
  } catch {
    problems.push(`--public-url is not a URL (got "${publicUrl}")`);
  }
  const logLevel = (input.logLevel ?? env['YAMORI_LOG_LEVEL'] ?? 'info') as ServerConfig['logLevel'];
  if (!LEVELS.includes(logLevel)) problems.push(`--log-level must be one of ${LEVELS.join(', ')}`);
  const positive = (name: string, v: number | undefined, dflt: number): number => {
    const n = v ?? dflt;
    if (!Number.isFinite(n) || n <= 0) problems.push(`${name} must be a positive number`);
    return n;
  };
  const intelUrl = input.intelUrl ?? env['YAMORI_INTEL_URL'] ?? null;
  const intelKey = input.intelKey ?? env['YAMORI_INTEL_KEY'] ?? null;
  if ((intelUrl === null) !== (intelKey === null)) problems.push('--intel-url and --intel-key go together: give both or neither');
  if (intelUrl !== null && !/^https?:\/\//.test(intelUrl)) problems.push(`--intel-url must be http(s)://… (got "${intelUrl}")`);
  const cfg: ServerConfig = {
    dataDir,
    databaseUrl,
    host,
    port,
    tls,
    publicUrl,
    certNames: [...(input.certNames ?? []), ...(env['YAMORI_CERT_NAMES']?.split(',').filter(Boolean) ?? [])],
    logLevel,
    agentEventsPerSecond: positive('agentEventsPerSecond', input.agentEventsPerSecond, 5000),
    agentEventsBurst: positive('agentEventsBurst', input.agentEventsBurst, 50000),
    maxBodyBytes: positive('maxBodyBytes', input.maxBodyBytes, 16 * 1024 * 1024),
    maxInflatedBytes: positive('maxInflatedBytes', input.maxInflatedBytes, 64 * 1024 * 1024),
    maxLongPollS: positive('maxLongPollS', input.maxLongPollS, 60),
    intelUrl,
    intelKey,
  };
  if (problems.length) throw new Error(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  return Object.freeze(cfg);
}
