import { Type, type Static } from 'typebox';
import { Sha256, Timestamp } from './common.ts';
import { Verdict } from './agent-api.ts';

/**
 * The threat-intelligence service's API (`/api/intel/v1/...`): called by management servers
 * (organization API keys) and by sandbox workers (worker keys).
 */

const Str = (max: number) => Type.String({ maxLength: max });

export const IndicatorType = Type.Enum(['sha256', 'ip', 'cidr', 'domain', 'url']);
export type IndicatorType = Static<typeof IndicatorType>;

export const Tlp = Type.Enum(['clear', 'green', 'amber', 'amber+strict', 'red']);
export type Tlp = Static<typeof Tlp>;

export const Indicator = Type.Object({
  type: IndicatorType,
  value: Str(2048),
  verdict: Verdict,
  confidence: Type.Integer({ minimum: 0, maximum: 100 }),
  source: Str(128),
  tlp: Tlp,
  firstSeen: Timestamp,
  lastSeen: Timestamp,
  expiresAt: Type.Union([Timestamp, Type.Null()]),
  related: Type.Array(Type.Object({ type: IndicatorType, value: Str(2048) }), { maxItems: 256 }),
});
export type Indicator = Static<typeof Indicator>;

export const IntelLookupRequest = Type.Object(
  {
    items: Type.Array(Type.Object({ type: IndicatorType, value: Str(2048) }, { additionalProperties: false }), {
      minItems: 1,
      maxItems: 10000,
    }),
  },
  { additionalProperties: false },
);
export type IntelLookupRequest = Static<typeof IntelLookupRequest>;

export const IntelLookupResponse = Type.Object({
  results: Type.Array(
    Type.Object({ type: IndicatorType, value: Str(2048), verdict: Verdict, confidence: Type.Integer(), source: Str(128) }),
  ),
});
export type IntelLookupResponse = Static<typeof IntelLookupResponse>;

/** One change in the shared verdict store; management servers follow the feed by `seq`. */
export const IntelChange = Type.Object({
  seq: Type.Integer({ minimum: 1 }),
  type: IndicatorType,
  value: Str(2048),
  verdict: Verdict,
  confidence: Type.Integer(),
  source: Str(128),
  at: Timestamp,
});
export type IntelChange = Static<typeof IntelChange>;

export const IntelChangesResponse = Type.Object({ changes: Type.Array(IntelChange), next: Type.Integer({ minimum: 0 }) });
export type IntelChangesResponse = Static<typeof IntelChangesResponse>;

export const SampleKind = Type.Enum(['elf', 'script']);
export type SampleKind = Static<typeof SampleKind>;

/** Metadata sent with a sample upload (the body is the file; these go in headers or a JSON part). */
export const SampleSubmission = Type.Object(
  {
    sha256: Sha256,
    fileName: Type.Optional(Str(1024)),
    kind: Type.Optional(SampleKind),
  },
  { additionalProperties: false },
);
export type SampleSubmission = Static<typeof SampleSubmission>;

export const SandboxJob = Type.Object({
  id: Str(64),
  sha256: Sha256,
  fileName: Type.Union([Str(1024), Type.Null()]),
  kind: SampleKind,
  timeoutS: Type.Integer({ minimum: 1, maximum: 600 }),
});
export type SandboxJob = Static<typeof SandboxJob>;

export const SandboxClaimRequest = Type.Object(
  { workerId: Type.String({ minLength: 1, maxLength: 128 }), waitS: Type.Integer({ minimum: 0, maximum: 60 }) },
  { additionalProperties: false },
);
export const SandboxClaimResponse = Type.Object({ job: Type.Union([SandboxJob, Type.Null()]) });
export type SandboxClaimResponse = Static<typeof SandboxClaimResponse>;

export const BehaviourSignature = Type.Object(
  { id: Str(128), weight: Type.Number({ minimum: -100, maximum: 100 }), message: Str(2048), evidence: Type.Optional(Str(4096)) },
  { additionalProperties: false },
);
export type BehaviourSignature = Static<typeof BehaviourSignature>;

export const SandboxProcess = Type.Object(
  {
    pid: Type.Integer(),
    ppid: Type.Integer(),
    executable: Str(4096),
    args: Type.Array(Str(4096), { maxItems: 256 }),
  },
  { additionalProperties: false },
);

export const SandboxReport = Type.Object(
  {
    status: Type.Enum(['completed', 'timeout', 'crashed', 'refused', 'error']),
    reason: Type.Optional(Str(2048)),
    verdict: Verdict,
    score: Type.Number({ minimum: 0, maximum: 100 }),
    durationMs: Type.Integer({ minimum: 0 }),
    signatures: Type.Array(BehaviourSignature, { maxItems: 256 }),
    processes: Type.Array(SandboxProcess, { maxItems: 1024 }),
    files: Type.Array(
      Type.Object(
        { path: Str(4096), op: Type.Enum(['write', 'delete', 'rename', 'chmod_exec']), sha256: Type.Optional(Sha256) },
        { additionalProperties: false },
      ),
      { maxItems: 4096 },
    ),
    network: Type.Array(
      Type.Object(
        {
          kind: Type.Enum(['dns', 'connect', 'http', 'tls']),
          domain: Type.Optional(Str(253)),
          ip: Type.Optional(Str(45)),
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          url: Type.Optional(Str(2048)),
        },
        { additionalProperties: false },
      ),
      { maxItems: 4096 },
    ),
    indicators: Type.Array(Type.Object({ type: IndicatorType, value: Str(2048) }, { additionalProperties: false }), {
      maxItems: 1024,
    }),
  },
  { additionalProperties: false },
);
export type SandboxReport = Static<typeof SandboxReport>;
