import { Type, type Static } from 'typebox';
import { AgentHealth, AnyEvent } from './events.ts';
import { Id, Mode, Sha256, Timestamp } from './common.ts';
import { Policy } from './policy.ts';
import { YaraRevision } from './yara-packs.ts';

/** Messages between the agent and the management server (`/api/agent/v1/...`). */

const Str = (max: number) => Type.String({ maxLength: max });

export const ConflictingProduct = Type.Object(
  { name: Str(128), kind: Str(64), detail: Str(1024) },
  { additionalProperties: false },
);

export const HostFacts = Type.Object(
  {
    hostname: Type.String({ minLength: 1, maxLength: 253 }),
    machineId: Type.String({ minLength: 8, maxLength: 128 }),
    os: Type.Object(
      { family: Str(32), name: Str(128), version: Str(64), kernel: Str(128) },
      { additionalProperties: false },
    ),
    arch: Str(32),
    ips: Type.Array(Str(45), { maxItems: 64 }),
    agentVersion: Type.String({ minLength: 1, maxLength: 64 }),
    conflicts: Type.Optional(Type.Array(ConflictingProduct, { maxItems: 32 })),
  },
  { additionalProperties: false },
);
export type HostFacts = Static<typeof HostFacts>;

export const EnrollRequest = Type.Object(
  { token: Type.String({ minLength: 10, maxLength: 4096 }), facts: HostFacts },
  { additionalProperties: false },
);
export type EnrollRequest = Static<typeof EnrollRequest>;

export const EnrollResponse = Type.Object({
  agentId: Id,
  /** Shown once; the server keeps only its hash. */
  secret: Type.String(),
  tenantId: Id,
  groupId: Id,
  reactivated: Type.Boolean(),
});
export type EnrollResponse = Static<typeof EnrollResponse>;

/** What an enrollment token carries, base64url-encoded JSON: where to go and which CA to trust. */
export const EnrollmentTokenPayload = Type.Object(
  {
    v: Type.Literal(1),
    url: Type.String({ maxLength: 2048 }),
    caSha256: Type.Union([Sha256, Type.Null()]),
    secret: Type.String({ minLength: 16, maxLength: 128 }),
  },
  { additionalProperties: false },
);
export type EnrollmentTokenPayload = Static<typeof EnrollmentTokenPayload>;

export const CommandType = Type.Enum(['kill', 'quarantine', 'isolate', 'release', 'scan', 'collect_file', 'upgrade']);
export type CommandType = Static<typeof CommandType>;

export const Command = Type.Object({
  id: Id,
  type: CommandType,
  params: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Timestamp,
});
export type Command = Static<typeof Command>;

export const Verdict = Type.Enum(['malicious', 'suspicious', 'unknown', 'benign']);
export type Verdict = Static<typeof Verdict>;

export const VerdictUpdate = Type.Object({
  sha256: Sha256,
  verdict: Verdict,
  source: Str(128),
  seq: Type.Integer({ minimum: 0 }),
});
export type VerdictUpdate = Static<typeof VerdictUpdate>;

export const AppliedStatus = Type.Object(
  {
    policyRevision: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    modes: Type.Optional(Type.Record(Type.String({ maxLength: 16 }), Mode)),
  },
  { additionalProperties: false },
);

export const CheckinRequest = Type.Object(
  {
    /** The policy revision the agent holds; a different one on the server is answered at once. */
    policyRevision: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    commandCursor: Type.Integer({ minimum: 0 }),
    verdictCursor: Type.Integer({ minimum: 0 }),
    /** Seconds the server may hold the request open when nothing is new (long-poll). */
    waitS: Type.Integer({ minimum: 0, maximum: 60 }),
    applied: Type.Optional(AppliedStatus),
    facts: Type.Optional(HostFacts),
    health: Type.Optional(AgentHealth),
    /** The tenant YARA revision the agent holds (null: none yet); sending it asks for the current one. */
    yaraRevision: Type.Optional(Type.Union([YaraRevision, Type.Null()])),
  },
  { additionalProperties: false },
);
export type CheckinRequest = Static<typeof CheckinRequest>;

export const CheckinResponse = Type.Object({
  policy: Type.Union([Type.Object({ revision: Type.Integer(), document: Policy }), Type.Null()]),
  commands: Type.Array(Command),
  commandCursor: Type.Integer(),
  verdicts: Type.Array(VerdictUpdate),
  verdictCursor: Type.Integer(),
  serverTime: Timestamp,
  /** The tenant's current YARA revision, when the agent sent its own: a different one means fetch /yara-rules. */
  yaraRevision: Type.Optional(YaraRevision),
});
export type CheckinResponse = Static<typeof CheckinResponse>;

export const MAX_EVENTS_PER_BATCH = 5000;

export const EventBatch = Type.Object(
  {
    batchId: Type.String({ format: 'uuid' }),
    events: Type.Array(AnyEvent, { minItems: 1, maxItems: MAX_EVENTS_PER_BATCH }),
  },
  { additionalProperties: false },
);
export type EventBatch = Static<typeof EventBatch>;

export const EventBatchResponse = Type.Object({
  batchId: Type.String(),
  accepted: Type.Integer(),
  /** True when this batch id was already committed: the agent may drop it. */
  duplicate: Type.Boolean(),
});
export type EventBatchResponse = Static<typeof EventBatchResponse>;

export const CommandResult = Type.Object(
  {
    status: Type.Union([Type.Literal('done'), Type.Literal('failed')]),
    output: Type.Optional(Type.String({ maxLength: 65536 })),
  },
  { additionalProperties: false },
);
export type CommandResult = Static<typeof CommandResult>;

export const LookupRequest = Type.Object(
  { sha256: Type.Array(Sha256, { minItems: 1, maxItems: 1000 }) },
  { additionalProperties: false },
);
export type LookupRequest = Static<typeof LookupRequest>;

export const LookupResponse = Type.Object({
  results: Type.Array(Type.Object({ sha256: Sha256, verdict: Verdict, source: Str(128) })),
});
export type LookupResponse = Static<typeof LookupResponse>;
