import { Type, type Static } from 'typebox';
import { Mode, ProtectionModule, Sha256, Timestamp } from './common.ts';

/** The policy document an agent enforces. Versioned by `schemaVersion`; revisions live on the server. */
export const POLICY_SCHEMA_VERSION = 1;

const Str = (max: number) => Type.String({ maxLength: max });

export const ExclusionKind = Type.Union([
  Type.Literal('sha256'),
  Type.Literal('path'),
  Type.Literal('signer'),
  Type.Literal('package'),
  Type.Literal('parent_child'),
  Type.Literal('rule'),
]);
export type ExclusionKind = Static<typeof ExclusionKind>;

/**
 * One exclusion. `path` and `parent`/`value` of parent_child take glob patterns (`*` within a
 * path segment, `**` across segments). `modules` empty or absent means every module.
 */
export const Exclusion = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64 }),
    kind: ExclusionKind,
    value: Type.String({ minLength: 1, maxLength: 4096 }),
    parent: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    modules: Type.Optional(Type.Array(ProtectionModule, { maxItems: 5 })),
    expiresAt: Type.Optional(Type.Union([Timestamp, Type.Null()])),
    comment: Type.Optional(Str(1024)),
    createdBy: Type.Optional(Str(256)),
    sourceAlertId: Type.Optional(Str(64)),
  },
  { additionalProperties: false },
);
export type Exclusion = Static<typeof Exclusion>;

export const BlockEntry = Type.Object(
  { sha256: Sha256, comment: Type.Optional(Str(1024)) },
  { additionalProperties: false },
);

/**
 * A parent→child execution rule: may a program (`parent`, matched against the exec'ing process's
 * image and its ancestors up to four levels, so a shell in between does not hide the chain) start
 * `child`? Globs as in exclusions. The first rule that matches decides, so allow rules placed
 * before a deny rule carve out exceptions.
 */
export const ParentChildRule = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64 }),
    parent: Type.String({ minLength: 1, maxLength: 4096 }),
    child: Type.String({ minLength: 1, maxLength: 4096 }),
    action: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
    comment: Type.Optional(Str(1024)),
  },
  { additionalProperties: false },
);
export type ParentChildRule = Static<typeof ParentChildRule>;

export const PopupText = Type.Object(
  { title: Type.String({ minLength: 1, maxLength: 200 }), body: Type.String({ minLength: 1, maxLength: 2000 }) },
  { additionalProperties: false },
);

export const TelemetryKind = Type.Union([
  Type.Literal('process'),
  Type.Literal('file'),
  Type.Literal('network'),
  Type.Literal('dns'),
]);
export type TelemetryKind = Static<typeof TelemetryKind>;

export const FileKind = Type.Enum(['elf', 'script', 'pe', 'macho', 'archive', 'document', 'pdf', 'image', 'text', 'other']);
export type FileKind = Static<typeof FileKind>;

export const Policy = Type.Object(
  {
    schemaVersion: Type.Literal(POLICY_SCHEMA_VERSION),
    modules: Type.Object(
      {
        malware: Type.Object({ mode: Mode, quarantineOnMalicious: Type.Boolean() }, { additionalProperties: false }),
        behavior: Type.Object(
          { mode: Mode, parentChild: Type.Optional(Type.Array(ParentChildRule, { maxItems: 1000 })) },
          { additionalProperties: false },
        ),
        ransomware: Type.Object(
          { mode: Mode, decoyFolders: Type.Array(Str(4096), { maxItems: 256 }) },
          { additionalProperties: false },
        ),
        network: Type.Object({ mode: Mode }, { additionalProperties: false }),
        exploit: Type.Object({ mode: Mode }, { additionalProperties: false }),
      },
      { additionalProperties: false },
    ),
    exclusions: Type.Array(Exclusion, { maxItems: 10000 }),
    blocklist: Type.Array(BlockEntry, { maxItems: 100000 }),
    upload: Type.Object(
      {
        enabled: Type.Boolean(),
        consent: Type.Boolean({ description: 'the tenant agreed that samples may leave the premises' }),
        hashOnly: Type.Boolean(),
        fileKinds: Type.Array(FileKind, { maxItems: 10 }),
        maxSizeMb: Type.Integer({ minimum: 0, maximum: 512 }),
        neverPaths: Type.Array(Str(4096), { maxItems: 256 }),
      },
      { additionalProperties: false },
    ),
    popup: Type.Object({ ja: PopupText, en: PopupText }, { additionalProperties: false }),
    uninstall: Type.Object(
      { passwordHash: Type.Union([Type.String({ maxLength: 512 }), Type.Null()]) },
      { additionalProperties: false },
    ),
    exec: Type.Object(
      {
        decisionTimeoutMs: Type.Integer({ minimum: 10, maximum: 30000 }),
        onTimeout: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
        /** Paths (globs) where an undecided exec is denied even when onTimeout is allow. */
        failClosedPaths: Type.Array(Str(4096), { maxItems: 256 }),
      },
      { additionalProperties: false },
    ),
    telemetry: Type.Object(
      {
        kinds: Type.Array(TelemetryKind, { maxItems: 4 }),
        maxEventsPerSecond: Type.Integer({ minimum: 1, maximum: 100000 }),
        queueMaxMb: Type.Integer({ minimum: 1, maximum: 4096 }),
        watchedPaths: Type.Array(Str(4096), { maxItems: 256 }),
      },
      { additionalProperties: false },
    ),
    /**
     * Scheduled scans of the host's files (built-in signatures, the policy blocklist and the
     * tenant's YARA packs). Absent: none. Detections are malware-module alerts; in block mode with
     * quarantineOnMalicious the file is quarantined.
     */
    scheduledScan: Type.Optional(
      Type.Object(
        {
          everyHours: Type.Integer({ minimum: 1, maximum: 744 }),
          /** Absolute directories or files, scanned recursively without following symlinks out of the tree. */
          paths: Type.Array(Str(4096), { minItems: 1, maxItems: 64 }),
          /** Files over this size are hashed but not YARA-scanned. */
          maxFileMb: Type.Integer({ minimum: 1, maximum: 1024 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Policy = Static<typeof Policy>;

/** What a new tenant starts with: everything on in monitor mode, the safe first step of a roll-out. */
export function defaultPolicy(): Policy {
  return {
    schemaVersion: POLICY_SCHEMA_VERSION,
    modules: {
      malware: { mode: 'monitor', quarantineOnMalicious: false },
      behavior: {
        mode: 'monitor',
        // Office suites and document viewers have no business starting downloaders or interpreters.
        parentChild: [
          { id: 'office-curl', parent: '**/soffice.bin', child: '**/curl', action: 'deny', comment: 'office suite starts a downloader' },
          { id: 'office-wget', parent: '**/soffice.bin', child: '**/wget', action: 'deny', comment: 'office suite starts a downloader' },
          { id: 'viewer-curl', parent: '**/evince', child: '**/curl', action: 'deny', comment: 'document viewer starts a downloader' },
          { id: 'viewer-wget', parent: '**/evince', child: '**/wget', action: 'deny', comment: 'document viewer starts a downloader' },
        ],
      },
      ransomware: { mode: 'monitor', decoyFolders: ['/home/*', '/home/*/Documents', '/root', '/srv', '/var/www'] },
      network: { mode: 'monitor' },
      exploit: { mode: 'monitor' },
    },
    exclusions: [],
    blocklist: [],
    upload: {
      enabled: true,
      consent: false,
      hashOnly: false,
      fileKinds: ['elf', 'script'],
      maxSizeMb: 32,
      neverPaths: [],
    },
    popup: {
      en: {
        title: 'Yamori blocked a program',
        body: 'A program was stopped because it may be harmful. If you need it for your work, contact your IT help desk.',
      },
      ja: {
        title: 'Yamori がプログラムをブロックしました',
        body: '有害な可能性があるため、プログラムの実行を停止しました。業務で必要な場合は IT ヘルプデスクにご連絡ください。',
      },
    },
    uninstall: { passwordHash: null },
    exec: { decisionTimeoutMs: 250, onTimeout: 'allow', failClosedPaths: ['/tmp/**', '/dev/shm/**', '/var/tmp/**'] },
    telemetry: {
      kinds: ['process', 'file', 'network', 'dns'],
      maxEventsPerSecond: 2000,
      queueMaxMb: 256,
      watchedPaths: ['/etc/**', '/root/.ssh/**', '/home/*/.ssh/**', '/var/spool/cron/**', '/etc/systemd/system/**'],
    },
  };
}

export const MODULE_KEYS = ['malware', 'behavior', 'ransomware', 'network', 'exploit'] as const satisfies readonly ProtectionModule[];
