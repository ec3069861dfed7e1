import { Type, type Static } from 'typebox';
import { Id, Timestamp } from './common.ts';

/**
 * Tenant server rules: Sigma rules the management server evaluates over every event batch it
 * ingests (`/api/v1/tenants/:tenantId/server-rules`). Each match becomes an alert. The server
 * compiles every upload with the agents' Sigma engine and refuses a rule that does not compile.
 */

/** Largest rule source accepted (one rule; SigmaHQ's largest Linux rule is a few KiB). */
export const SERVER_RULE_MAX_BYTES = 256 * 1024;

const Level = Type.Union([
  Type.Literal('informational'),
  Type.Literal('low'),
  Type.Literal('medium'),
  Type.Literal('high'),
  Type.Literal('critical'),
]);

export const CreateServerRule = Type.Object(
  {
    /** One Sigma rule (YAML). It must carry an `id:`; alerts and dedup are keyed by it. */
    source: Type.String({ minLength: 1, maxLength: SERVER_RULE_MAX_BYTES, description: 'one Sigma rule (YAML) with an id' }),
    /** Default true. */
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateServerRule = Static<typeof CreateServerRule>;

export const UpdateServerRule = Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false });
export type UpdateServerRule = Static<typeof UpdateServerRule>;

export const ServerRuleSummary = Type.Object({
  id: Id,
  /** The Sigma rule's own id (what alerts carry as ruleId). */
  sigmaId: Type.String({ maxLength: 128 }),
  title: Type.String({ maxLength: 256 }),
  level: Level,
  enabled: Type.Boolean(),
  /** Bumped by every change. */
  version: Type.Integer({ minimum: 1 }),
  createdBy: Type.String({ maxLength: 320 }),
  createdAt: Timestamp,
  updatedBy: Type.String({ maxLength: 320 }),
  updatedAt: Timestamp,
});
export type ServerRuleSummary = Static<typeof ServerRuleSummary>;

export const ServerRule = Type.Object({ ...ServerRuleSummary.properties, source: Type.String({ maxLength: SERVER_RULE_MAX_BYTES }) });
export type ServerRule = Static<typeof ServerRule>;
