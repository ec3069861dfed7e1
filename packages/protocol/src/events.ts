import { Type, type Static } from 'typebox';
import { Mode, ProtectionModule, Sha256, Timestamp } from './common.ts';

/**
 * Telemetry in Elastic Common Schema (ECS) field names. `event.dataset` tells the kind;
 * the server validates each kind strictly (unknown fields are refused).
 */
const Str = (max = 4096) => Type.String({ maxLength: max });
const Path = Str(4096);
const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Ip = Type.String({ maxLength: 45, pattern: '^[0-9a-fA-F:.]+$' });

export const Hash = Type.Object({ sha256: Type.Optional(Sha256) }, { additionalProperties: false });
export const EcsUser = Type.Object(
  { id: Type.Optional(Str(32)), name: Type.Optional(Str(256)) },
  { additionalProperties: false },
);

const processCore = {
  entity_id: Str(128),
  pid: Type.Integer({ minimum: 0 }),
  name: Type.Optional(Str(256)),
  executable: Type.Optional(Path),
  args: Type.Optional(Type.Array(Str(8192), { maxItems: 1024 })),
  command_line: Type.Optional(Str(32768)),
  working_directory: Type.Optional(Path),
  start: Type.Optional(Timestamp),
  hash: Type.Optional(Hash),
};

export const ParentProcess = Type.Object(
  { ...processCore, entity_id: Type.Optional(Str(128)), pid: Type.Optional(Type.Integer({ minimum: 0 })) },
  { additionalProperties: false },
);

export const Process = Type.Object(
  {
    ...processCore,
    ppid: Type.Optional(Type.Integer({ minimum: 0 })),
    end: Type.Optional(Timestamp),
    exit_code: Type.Optional(Type.Integer()),
    user: Type.Optional(EcsUser),
    group: Type.Optional(EcsUser),
    parent: Type.Optional(ParentProcess),
    env_vars: Type.Optional(Type.Array(Str(8192), { maxItems: 256 })),
  },
  { additionalProperties: false },
);
export type Process = Static<typeof Process>;

/** A reference to the process that caused a file/network/dns event. */
export const ProcessRef = Type.Object(
  {
    entity_id: Type.Optional(Str(128)),
    pid: Type.Integer({ minimum: 0 }),
    name: Type.Optional(Str(256)),
    executable: Type.Optional(Path),
    hash: Type.Optional(Hash),
    user: Type.Optional(EcsUser),
  },
  { additionalProperties: false },
);
export type ProcessRef = Static<typeof ProcessRef>;

const EventCategory = Type.Union([
  Type.Literal('process'),
  Type.Literal('file'),
  Type.Literal('network'),
  Type.Literal('malware'),
  Type.Literal('intrusion_detection'),
  Type.Literal('host'),
]);
const EventType = Type.Enum([
  'start',
  'end',
  'creation',
  'change',
  'deletion',
  'rename',
  'connection',
  'protocol',
  'info',
  'denied',
  'allowed',
]);

function eventMeta<D extends string>(dataset: D, kind: 'event' | 'alert' | 'metric') {
  return Type.Object(
    {
      id: Type.String({ minLength: 8, maxLength: 64 }),
      dataset: Type.Literal(dataset),
      kind: Type.Literal(kind),
      category: Type.Array(EventCategory, { maxItems: 4 }),
      type: Type.Array(EventType, { maxItems: 4 }),
      action: Str(64),
      outcome: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('failure'), Type.Literal('unknown')])),
      severity: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    },
    { additionalProperties: false },
  );
}

export const ProcessEvent = Type.Object(
  { '@timestamp': Timestamp, event: eventMeta('yamori.process', 'event'), process: Process },
  { additionalProperties: false },
);
export type ProcessEvent = Static<typeof ProcessEvent>;

export const FileInfo = Type.Object(
  {
    path: Path,
    name: Type.Optional(Str(1024)),
    directory: Type.Optional(Path),
    extension: Type.Optional(Str(64)),
    size: Type.Optional(Type.Integer({ minimum: 0 })),
    mode: Type.Optional(Str(8)),
    type: Type.Optional(Str(32)),
    hash: Type.Optional(Hash),
    /** Elastic endpoint's place for the old name of a renamed file. */
    Ext: Type.Optional(
      Type.Object({ original: Type.Object({ path: Path }, { additionalProperties: false }) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

export const FileEvent = Type.Object(
  { '@timestamp': Timestamp, event: eventMeta('yamori.file', 'event'), file: FileInfo, process: Type.Optional(ProcessRef) },
  { additionalProperties: false },
);
export type FileEvent = Static<typeof FileEvent>;

const Endpoint = Type.Object(
  { ip: Ip, port: Type.Optional(Port), domain: Type.Optional(Str(253)) },
  { additionalProperties: false },
);
export const NetworkEvent = Type.Object(
  {
    '@timestamp': Timestamp,
    event: eventMeta('yamori.network', 'event'),
    source: Endpoint,
    destination: Endpoint,
    network: Type.Object(
      {
        transport: Type.Union([Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('icmp'), Type.Literal('other')]),
        type: Type.Union([Type.Literal('ipv4'), Type.Literal('ipv6')]),
        direction: Type.Union([Type.Literal('egress'), Type.Literal('ingress'), Type.Literal('unknown')]),
      },
      { additionalProperties: false },
    ),
    process: Type.Optional(ProcessRef),
  },
  { additionalProperties: false },
);
export type NetworkEvent = Static<typeof NetworkEvent>;

export const DnsEvent = Type.Object(
  {
    '@timestamp': Timestamp,
    event: eventMeta('yamori.dns', 'event'),
    dns: Type.Object(
      {
        question: Type.Object({ name: Str(253), type: Str(16) }, { additionalProperties: false }),
        resolved_ip: Type.Optional(Type.Array(Ip, { maxItems: 64 })),
        response_code: Type.Optional(Str(16)),
      },
      { additionalProperties: false },
    ),
    process: Type.Optional(ProcessRef),
  },
  { additionalProperties: false },
);
export type DnsEvent = Static<typeof DnsEvent>;

export const DetectionAction = Type.Union([
  Type.Literal('none'),
  Type.Literal('alert'),
  Type.Literal('deny_exec'),
  Type.Literal('kill_process'),
  Type.Literal('kill_tree'),
  Type.Literal('quarantine_file'),
  Type.Literal('isolate_host'),
]);
export type DetectionAction = Static<typeof DetectionAction>;

/** A detection by an agent engine: becomes (or adds to) an alert on the server. */
export const DetectionEvent = Type.Object(
  {
    '@timestamp': Timestamp,
    event: eventMeta('yamori.alert', 'alert'),
    rule: Type.Object(
      {
        id: Str(128),
        name: Str(256),
        ruleset: Type.Optional(Str(128)),
        description: Type.Optional(Str(4096)),
        level: Type.Optional(
          Type.Enum(['informational', 'low', 'medium', 'high', 'critical']),
        ),
      },
      { additionalProperties: false },
    ),
    yamori: Type.Object(
      {
        module: ProtectionModule,
        mode: Mode,
        /** What the agent did; in monitor mode 'none' with would_have set. */
        action: DetectionAction,
        would_have: Type.Optional(DetectionAction),
        reasons: Type.Optional(Type.Array(Str(1024), { maxItems: 64 })),
        score: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
      },
      { additionalProperties: false },
    ),
    threat: Type.Optional(
      Type.Object(
        { technique: Type.Array(Type.Object({ id: Str(32) }, { additionalProperties: false }), { maxItems: 32 }) },
        { additionalProperties: false },
      ),
    ),
    process: Type.Optional(Process),
    file: Type.Optional(FileInfo),
    destination: Type.Optional(Endpoint),
  },
  { additionalProperties: false },
);
export type DetectionEvent = Static<typeof DetectionEvent>;

export const SensorState = Type.Object(
  {
    name: Str(64),
    state: Type.Union([Type.Literal('active'), Type.Literal('degraded'), Type.Literal('off')]),
    reason: Type.Optional(Str(1024)),
  },
  { additionalProperties: false },
);
export type SensorState = Static<typeof SensorState>;

export const AgentHealth = Type.Object(
  {
    cpu_pct: Type.Number({ minimum: 0 }),
    rss_mb: Type.Number({ minimum: 0 }),
    queue_depth: Type.Integer({ minimum: 0 }),
    dropped_events: Type.Integer({ minimum: 0 }),
    fail_open_decisions: Type.Optional(Type.Integer({ minimum: 0 })),
    sensors: Type.Array(SensorState, { maxItems: 32 }),
    shedding: Type.Optional(Type.Array(Str(64), { maxItems: 16 })),
    problems: Type.Optional(Type.Array(Str(1024), { maxItems: 32 })),
  },
  { additionalProperties: false },
);
export type AgentHealth = Static<typeof AgentHealth>;

export const HealthEvent = Type.Object(
  { '@timestamp': Timestamp, event: eventMeta('yamori.health', 'metric'), yamori: Type.Object({ health: AgentHealth }, { additionalProperties: false }) },
  { additionalProperties: false },
);
export type HealthEvent = Static<typeof HealthEvent>;

export const AnyEvent = Type.Union([ProcessEvent, FileEvent, NetworkEvent, DnsEvent, DetectionEvent, HealthEvent]);
export type AnyEvent = Static<typeof AnyEvent>;
export type EventDataset = AnyEvent['event']['dataset'];

export const EVENT_DATASETS: readonly EventDataset[] = [
  'yamori.process',
  'yamori.file',
  'yamori.network',
  'yamori.dns',
  'yamori.alert',
  'yamori.health',
];


/** Narrowing by `event.dataset` (TypeScript does not narrow unions on a nested field by itself). */
export const isProcessEvent = (e: AnyEvent): e is ProcessEvent => e.event.dataset === 'yamori.process';
export const isDetectionEvent = (e: AnyEvent): e is DetectionEvent => e.event.dataset === 'yamori.alert';
