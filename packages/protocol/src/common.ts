import { Type, type Static } from 'typebox';

/** Branded identifiers: mixing a tenant id with an agent id is a security bug, so the types refuse it. */
export type TenantId = string & { readonly __brand: 'TenantId' };
export type AgentId = string & { readonly __brand: 'AgentId' };
export type UserId = string & { readonly __brand: 'UserId' };
export type GroupId = string & { readonly __brand: 'GroupId' };
export type PolicyId = string & { readonly __brand: 'PolicyId' };

export const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
export const Sha256 = Type.String({ pattern: '^[a-f0-9]{64}$', description: 'lower-case hex sha256' });
export const Timestamp = Type.String({ format: 'date-time', maxLength: 40 });
export const ShortText = Type.String({ maxLength: 256 });
export const LongText = Type.String({ maxLength: 8192 });

export const ProtectionModule = Type.Union([
  Type.Literal('malware'),
  Type.Literal('behavior'),
  Type.Literal('ransomware'),
  Type.Literal('network'),
  Type.Literal('exploit'),
]);
export type ProtectionModule = Static<typeof ProtectionModule>;
export const PROTECTION_MODULES: readonly ProtectionModule[] = [
  'malware',
  'behavior',
  'ransomware',
  'network',
  'exploit',
];

export const Mode = Type.Union([Type.Literal('off'), Type.Literal('monitor'), Type.Literal('block')]);
export type Mode = Static<typeof Mode>;

export const Role = Type.Union([
  Type.Literal('owner'),
  Type.Literal('admin'),
  Type.Literal('approver'),
  Type.Literal('analyst'),
  Type.Literal('helpdesk'),
]);
export type Role = Static<typeof Role>;
export const ROLES: readonly Role[] = ['owner', 'admin', 'approver', 'analyst', 'helpdesk'];

/** The one error body every API returns; CLI and console show `message` as is. */
export const ErrorBody = Type.Object({
  code: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.Array(Type.String())),
});
export type ErrorBody = Static<typeof ErrorBody>;

export const ERROR_CODES = {
  invalid_input: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export function page<T extends ReturnType<typeof Type.Object>>(item: T) {
  return Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });
}
