import { Type, type Static } from 'typebox';
import { Id, Timestamp } from './common.ts';

/**
 * Tenant YARA rule packs: the console/automation API (`/api/v1/tenants/:tenantId/yara-packs`) and
 * the agent's copy (`GET /api/agent/v1/yara-rules`). The server compiles every upload with libyara
 * and refuses a pack with any error; agents compile the enabled packs again and keep the last set
 * that compiled.
 */

/** Largest pack upload: the request body, and the rule sources together (signature-base is ~7 MB). */
export const YARA_PACK_MAX_BYTES = 16 * 1024 * 1024;
export const YARA_PACK_MAX_FILES = 1000;

/** A file name inside a pack: no directories, nothing a shell or a path join could trip over. */
export const YaraFileName = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_][A-Za-z0-9_.+-]*$' });
export const YaraRuleSource = Type.Object(
  { name: YaraFileName, source: Type.String({ minLength: 1, maxLength: YARA_PACK_MAX_BYTES }) },
  { additionalProperties: false },
);
export type YaraRuleSource = Static<typeof YaraRuleSource>;

const PackName = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\x00-\\x1f]+$' });
const Description = Type.String({ maxLength: 2000 });
const SourceText = Type.String({ minLength: 1, maxLength: YARA_PACK_MAX_BYTES, description: 'rule source text, stored as one file named NAME.yar' });
const Files = Type.Array(YaraRuleSource, { minItems: 1, maxItems: YARA_PACK_MAX_FILES });

/** Upload: `source` (one text) or `files` (several), not both. */
export const CreateYaraPack = Type.Object(
  {
    name: PackName,
    description: Type.Optional(Description),
    /** Default true. Enabling (a pack in force on the agents) needs the policies:deploy permission. */
    enabled: Type.Optional(Type.Boolean()),
    source: Type.Optional(SourceText),
    files: Type.Optional(Files),
  },
  { additionalProperties: false },
);
export type CreateYaraPack = Static<typeof CreateYaraPack>;

export const UpdateYaraPack = Type.Object(
  {
    name: Type.Optional(PackName),
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean()),
    source: Type.Optional(SourceText),
    files: Type.Optional(Files),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateYaraPack = Static<typeof UpdateYaraPack>;

export const YaraPackSummary = Type.Object({
  id: Id,
  name: PackName,
  description: Description,
  enabled: Type.Boolean(),
  /** Bumped by every change; agents re-fetch when an enabled pack's version changes. */
  version: Type.Integer({ minimum: 1 }),
  ruleCount: Type.Integer({ minimum: 0 }),
  fileNames: Type.Array(YaraFileName),
  sizeBytes: Type.Integer({ minimum: 0 }),
  createdBy: Type.String({ maxLength: 320 }),
  createdAt: Timestamp,
  updatedBy: Type.String({ maxLength: 320 }),
  updatedAt: Timestamp,
});
export type YaraPackSummary = Static<typeof YaraPackSummary>;

export const YaraPack = Type.Object({ ...YaraPackSummary.properties, files: Type.Array(YaraRuleSource) });
export type YaraPack = Static<typeof YaraPack>;

/** The tenant's YARA content revision: a digest of the enabled packs' ids and versions. */
export const YaraRevision = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-f0-9]+$' });

/** What an agent fetches: every enabled pack of its tenant, with its sources. */
export const YaraRuleBundle = Type.Object({
  revision: YaraRevision,
  packs: Type.Array(
    Type.Object({
      id: Id,
      name: PackName,
      version: Type.Integer({ minimum: 1 }),
      files: Type.Array(YaraRuleSource),
    }),
  ),
});
export type YaraRuleBundle = Static<typeof YaraRuleBundle>;
