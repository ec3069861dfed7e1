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

// ---- Appended by the intel service: feeds, exports, samples, organizations and keys. ----

/** One indicator with the combined verdict and its related indicators (`GET /indicators/:type/:value`). */
export const IndicatorDetail = Type.Object({
  indicator: Indicator,
  /** Each source's own assertion that went into the combined verdict. */
  observations: Type.Array(
    Type.Object({
      source: Str(128),
      verdict: Verdict,
      confidence: Type.Integer(),
      trust: Type.Number(),
      tlp: Tlp,
      lastSeen: Timestamp,
      expiresAt: Type.Union([Timestamp, Type.Null()]),
    }),
  ),
});
export type IndicatorDetail = Static<typeof IndicatorDetail>;

export const FeedFormat = Type.Enum(['stix', 'misp', 'csv', 'list']);
export type FeedFormat = Static<typeof FeedFormat>;

/** Query of `POST /feeds/import` (the body is the feed file as is). */
export const FeedImportQuery = Type.Object(
  {
    format: FeedFormat,
    source: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:-]+$' }),
    /** For lists and CSVs without a type column: what every value is (otherwise detected per value). */
    type: Type.Optional(IndicatorType),
    verdict: Type.Optional(Verdict),
    confidence: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    tlp: Type.Optional(Tlp),
  },
  { additionalProperties: false },
);
export type FeedImportQuery = Static<typeof FeedImportQuery>;

/** What an import did: the good part is imported in one transaction, every rejected item is listed. */
export const FeedImportReport = Type.Object({
  source: Str(128),
  format: FeedFormat,
  /** Items seen in the file (lines, STIX indicator values, MISP attributes). */
  total: Type.Integer({ minimum: 0 }),
  imported: Type.Integer({ minimum: 0 }),
  /** Indicators whose combined verdict changed (each is one entry in the change feed). */
  changed: Type.Integer({ minimum: 0 }),
  related: Type.Integer({ minimum: 0 }),
  rejected: Type.Integer({ minimum: 0 }),
  /** Valid items of a kind Yamori does not store (md5/sha1, MISP text attributes, STIX reports…). */
  unsupported: Type.Integer({ minimum: 0 }),
  /** Deliberately not imported (MISP to_ids=false, deleted attributes, comments). */
  skipped: Type.Integer({ minimum: 0 }),
  reasons: Type.Record(Type.String(), Type.Integer()),
  /** The first problems, each with where it is (`line 12`, a STIX id, a MISP attribute uuid). */
  problems: Type.Array(
    Type.Object({
      ref: Str(256),
      kind: Type.Enum(['rejected', 'unsupported', 'skipped']),
      reason: Str(1024),
      value: Type.Optional(Str(2048)),
    }),
    { maxItems: 1000 },
  ),
});
export type FeedImportReport = Static<typeof FeedImportReport>;

/** A feed fetched from a URL on a schedule, or just a named source with its trust weight. */
export const FeedSource = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:-]+$' }),
  /** 0 (ignored) … 1 (fully trusted): how much this source's assertions weigh in the combined verdict. */
  trust: Type.Number({ minimum: 0, maximum: 1 }),
  url: Type.Union([Type.String({ maxLength: 2048 }), Type.Null()]),
  format: Type.Union([FeedFormat, Type.Null()]),
  type: Type.Union([IndicatorType, Type.Null()]),
  intervalS: Type.Union([Type.Integer({ minimum: 60, maximum: 7 * 86400 }), Type.Null()]),
  enabled: Type.Boolean(),
  lastFetchAt: Type.Union([Timestamp, Type.Null()]),
  lastStatus: Type.Union([Str(2048), Type.Null()]),
});
export type FeedSource = Static<typeof FeedSource>;

export const FeedSourceInput = Type.Object(
  {
    name: FeedSource.properties.name,
    trust: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    url: Type.Optional(Type.String({ maxLength: 2048, pattern: '^https?://' })),
    format: Type.Optional(FeedFormat),
    type: Type.Optional(IndicatorType),
    intervalS: Type.Optional(Type.Integer({ minimum: 60, maximum: 7 * 86400 })),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type FeedSourceInput = Static<typeof FeedSourceInput>;

export const ExportFormat = Type.Enum(['stix', 'suricata', 'ip', 'domain', 'url', 'sha256', 'nft']);
export type ExportFormat = Static<typeof ExportFormat>;

export const ExportQuery = Type.Object(
  {
    minConfidence: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    /** Comma-separated verdicts; default `malicious`. */
    verdict: Type.Optional(Type.String({ maxLength: 64, pattern: '^(malicious|suspicious|benign)(,(malicious|suspicious|benign))*$' })),
    /** Only indicators whose TLP allows sharing at this level or lower (default `amber`: red is never exported). */
    maxTlp: Type.Optional(Tlp),
    /** Plain URL lists: drop the scheme (what Palo Alto EDL and FortiGate URL lists expect). Default true. */
    stripScheme: Type.Optional(Type.Boolean()),
    /** nftables: also emit drop chains on input/output/forward, not only the sets. */
    chains: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ExportQuery = Static<typeof ExportQuery>;

/** Response to a sample upload. */
export const SampleUploadResponse = Type.Object({
  sha256: Sha256,
  /** True when this upload queued a new sandbox job; false when a job for this sha256 already existed. */
  queued: Type.Boolean(),
  jobId: Str(64),
  status: Type.Enum(['queued', 'running', 'done', 'failed']),
  verdict: Verdict,
});
export type SampleUploadResponse = Static<typeof SampleUploadResponse>;

/** `GET /samples/:sha256/report`: only for an organization that uploaded the sample. */
export const SampleReportResponse = Type.Object({
  sha256: Sha256,
  fileName: Type.Union([Str(1024), Type.Null()]),
  kind: SampleKind,
  size: Type.Integer({ minimum: 0 }),
  uploadedAt: Timestamp,
  status: Type.Enum(['queued', 'running', 'done', 'failed']),
  /** The shared, combined verdict for this sha256 (all sources). */
  verdict: Verdict,
  report: Type.Union([SandboxReport, Type.Null()]),
});
export type SampleReportResponse = Static<typeof SampleReportResponse>;

export const SandboxReportAck = Type.Object({
  sha256: Sha256,
  verdict: Verdict,
  indicatorsAdded: Type.Integer({ minimum: 0 }),
  /** Report indicators not stored, with why (warninglisted, invalid). */
  skipped: Type.Array(Type.Object({ value: Str(2048), reason: Str(512) })),
});
export type SandboxReportAck = Static<typeof SandboxReportAck>;

export const IntelOrg = Type.Object({ id: Str(64), name: Str(128), createdAt: Timestamp });
export type IntelOrg = Static<typeof IntelOrg>;

export const IntelOrgInput = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
);

export const IntelKeyScope = Type.Enum(['org', 'worker', 'admin']);
export type IntelKeyScope = Static<typeof IntelKeyScope>;

export const IntelKeyInput = Type.Object(
  {
    scope: IntelKeyScope,
    /** Required for `org` keys, refused for the others. */
    orgId: Type.Optional(Str(64)),
    name: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: false },
);
export type IntelKeyInput = Static<typeof IntelKeyInput>;

/** A created key: `key` is shown once, the service keeps only its sha256. */
export const IntelKeyCreated = Type.Object({
  id: Str(64),
  scope: IntelKeyScope,
  orgId: Type.Union([Str(64), Type.Null()]),
  name: Str(128),
  key: Str(128),
});
export type IntelKeyCreated = Static<typeof IntelKeyCreated>;
