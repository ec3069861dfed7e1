import { Type, type Static } from 'typebox';
import { AgentHealth } from './events.ts';
import { HostFacts, CommandType } from './agent-api.ts';
import { Id, Mode, Role, Timestamp } from './common.ts';
import { Policy } from './policy.ts';

/** Bodies of the console/automation API (`/api/v1/...`), used by the server, the CLI and the console. */

const Name = Type.String({ minLength: 1, maxLength: 200 });
const Str = (max: number) => Type.String({ maxLength: max });
export const Cursor = Type.Optional(Type.String({ maxLength: 200 }));
export const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 500 }));

export const Tenant = Type.Object({ id: Id, name: Name, createdAt: Timestamp });
export type Tenant = Static<typeof Tenant>;
export const CreateTenant = Type.Object({ name: Name }, { additionalProperties: false });

export const Membership = Type.Object({ tenantId: Id, role: Role });
export type Membership = Static<typeof Membership>;

export const User = Type.Object({
  id: Id,
  email: Str(320),
  name: Str(200),
  /** Operators (MSS) can act in every tenant they hold a role in. */
  memberships: Type.Array(Membership),
  disabled: Type.Boolean(),
  createdAt: Timestamp,
});
export type User = Static<typeof User>;

const Email = Type.String({ minLength: 3, maxLength: 320, pattern: '^[^@\\s]+@[^@\\s]+$' });
const Password = Type.String({ minLength: 12, maxLength: 1024 });

export const CreateUser = Type.Object(
  { email: Email, name: Name, password: Password, role: Role },
  { additionalProperties: false },
);
export const UpdateUser = Type.Object(
  { name: Type.Optional(Name), role: Type.Optional(Role), disabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
export const ChangePassword = Type.Object(
  { currentPassword: Type.String({ maxLength: 1024 }), newPassword: Password },
  { additionalProperties: false },
);

export const LoginRequest = Type.Object(
  { email: Email, password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);
export const LoginResponse = Type.Object({ user: User, csrfToken: Type.String() });
export type LoginResponse = Static<typeof LoginResponse>;

export const TokenScope = Type.Union([Type.Literal('read'), Type.Literal('write')]);
export const ApiToken = Type.Object({
  id: Id,
  name: Name,
  role: Role,
  scope: TokenScope,
  expiresAt: Type.Union([Timestamp, Type.Null()]),
  revokedAt: Type.Union([Timestamp, Type.Null()]),
  createdAt: Timestamp,
});
export type ApiToken = Static<typeof ApiToken>;
export const CreateApiToken = Type.Object(
  {
    name: Name,
    role: Role,
    scope: TokenScope,
    expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  },
  { additionalProperties: false },
);
export const CreatedApiToken = Type.Object({ token: ApiToken, secret: Type.String() });

export const Group = Type.Object({
  id: Id,
  name: Name,
  policyId: Type.Union([Id, Type.Null()]),
  createdAt: Timestamp,
});
export type Group = Static<typeof Group>;
export const CreateGroup = Type.Object(
  { name: Name, policyId: Type.Optional(Type.Union([Id, Type.Null()])) },
  { additionalProperties: false },
);
export const UpdateGroup = Type.Object(
  { name: Type.Optional(Name), policyId: Type.Optional(Type.Union([Id, Type.Null()])) },
  { additionalProperties: false },
);

export const EnrollmentToken = Type.Object({
  id: Id,
  groupId: Id,
  name: Name,
  expiresAt: Timestamp,
  maxUses: Type.Union([Type.Integer(), Type.Null()]),
  uses: Type.Integer(),
  revokedAt: Type.Union([Timestamp, Type.Null()]),
  createdAt: Timestamp,
});
export type EnrollmentToken = Static<typeof EnrollmentToken>;
export const CreateEnrollmentToken = Type.Object(
  {
    groupId: Id,
    name: Name,
    expiresInHours: Type.Integer({ minimum: 1, maximum: 24 * 365 }),
    maxUses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
);
export const CreatedEnrollmentToken = Type.Object({
  enrollmentToken: EnrollmentToken,
  /** The string an installer passes to `yamori agent enroll --token`. */
  token: Type.String(),
  installCommand: Type.String(),
});

export const RevisionState = Type.Union([
  Type.Literal('draft'),
  Type.Literal('approved'),
  Type.Literal('deployed'),
  Type.Literal('superseded'),
]);
export type RevisionState = Static<typeof RevisionState>;

export const PolicySummary = Type.Object({
  id: Id,
  name: Name,
  description: Str(2000),
  deployedRevision: Type.Union([Type.Integer(), Type.Null()]),
  latestRevision: Type.Integer(),
  createdAt: Timestamp,
});
export type PolicySummary = Static<typeof PolicySummary>;
export const CreatePolicy = Type.Object(
  { name: Name, description: Type.Optional(Str(2000)), document: Type.Optional(Policy) },
  { additionalProperties: false },
);

export const PolicyRevision = Type.Object({
  policyId: Id,
  revision: Type.Integer(),
  state: RevisionState,
  document: Policy,
  comment: Str(2000),
  createdBy: Str(320),
  createdAt: Timestamp,
  approvedBy: Type.Union([Str(320), Type.Null()]),
  approvedAt: Type.Union([Timestamp, Type.Null()]),
  deployedBy: Type.Union([Str(320), Type.Null()]),
  deployedAt: Type.Union([Timestamp, Type.Null()]),
});
export type PolicyRevision = Static<typeof PolicyRevision>;
export const CreateRevision = Type.Object(
  { document: Policy, comment: Type.Optional(Str(2000)) },
  { additionalProperties: false },
);
export const DiffEntry = Type.Object({
  path: Type.String(),
  before: Type.Unknown(),
  after: Type.Unknown(),
});
export type DiffEntry = Static<typeof DiffEntry>;

export const AlertStatus = Type.Union([Type.Literal('new'), Type.Literal('acknowledged'), Type.Literal('resolved')]);
export type AlertStatus = Static<typeof AlertStatus>;
export const AlertResolution = Type.Union([
  Type.Literal('true_positive'),
  Type.Literal('false_positive'),
  Type.Literal('benign'),
]);
export type AlertResolution = Static<typeof AlertResolution>;

export const Alert = Type.Object({
  id: Id,
  agentId: Id,
  hostname: Str(253),
  ruleId: Str(128),
  ruleName: Str(256),
  module: Str(32),
  mode: Mode,
  action: Str(32),
  severity: Str(16),
  processExecutable: Type.Union([Str(4096), Type.Null()]),
  sha256: Type.Union([Str(64), Type.Null()]),
  count: Type.Integer(),
  firstSeen: Timestamp,
  lastSeen: Timestamp,
  status: AlertStatus,
  resolution: Type.Union([AlertResolution, Type.Null()]),
  assignee: Type.Union([Str(320), Type.Null()]),
  notes: Str(20000),
  event: Type.Unknown(),
});
export type Alert = Static<typeof Alert>;

export const UpdateAlert = Type.Object(
  {
    status: Type.Optional(AlertStatus),
    resolution: Type.Optional(AlertResolution),
    assignee: Type.Optional(Type.Union([Str(320), Type.Null()])),
    note: Type.Optional(Type.String({ minLength: 1, maxLength: 4000 })),
  },
  { additionalProperties: false },
);
export const AlertQuery = Type.Object(
  {
    status: Type.Optional(AlertStatus),
    agentId: Type.Optional(Id),
    ruleId: Type.Optional(Str(128)),
    module: Type.Optional(Str(32)),
    cursor: Cursor,
    limit: Limit,
  },
  { additionalProperties: false },
);

export const Agent = Type.Object({
  id: Id,
  groupId: Id,
  hostname: Str(253),
  machineId: Str(128),
  facts: HostFacts,
  status: Type.Union([Type.Literal('active'), Type.Literal('archived')]),
  enrolledAt: Timestamp,
  lastSeen: Type.Union([Timestamp, Type.Null()]),
  stale: Type.Boolean(),
  appliedPolicyRevision: Type.Union([Type.Integer(), Type.Null()]),
  modes: Type.Record(Type.String(), Mode),
  health: Type.Union([AgentHealth, Type.Null()]),
});
export type Agent = Static<typeof Agent>;
export const UpdateAgent = Type.Object(
  { groupId: Type.Optional(Id), status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('archived')])) },
  { additionalProperties: false },
);
export const IssueCommand = Type.Object(
  { type: CommandType, params: Type.Optional(Type.Record(Type.String(), Type.Unknown())) },
  { additionalProperties: false },
);
export const CommandStatus = Type.Object({
  id: Id,
  agentId: Id,
  type: CommandType,
  params: Type.Record(Type.String(), Type.Unknown()),
  status: Type.Union([Type.Literal('pending'), Type.Literal('done'), Type.Literal('failed')]),
  output: Type.Union([Type.String(), Type.Null()]),
  createdBy: Str(320),
  createdAt: Timestamp,
  completedAt: Type.Union([Timestamp, Type.Null()]),
});
export type CommandStatus = Static<typeof CommandStatus>;

export const AuditEntry = Type.Object({
  id: Type.Integer(),
  tenantId: Type.Union([Id, Type.Null()]),
  actor: Str(320),
  action: Str(128),
  target: Str(256),
  before: Type.Unknown(),
  after: Type.Unknown(),
  at: Timestamp,
});
export type AuditEntry = Static<typeof AuditEntry>;

export const Settings = Type.Object(
  {
    staleAfterDays: Type.Integer({ minimum: 1, maximum: 3650 }),
    alertDedupWindowMinutes: Type.Integer({ minimum: 1, maximum: 10080 }),
  },
  { additionalProperties: false },
);
export type Settings = Static<typeof Settings>;
