import type { Role } from '@yamori/protocol';

/** What each role may do in a tenant. One table, checked in one hook for every tenant route. */
export type Permission =
  | 'read'
  | 'alerts:write'
  | 'agents:write'
  | 'commands:write'
  | 'enroll:write'
  | 'policies:write'
  | 'policies:approve'
  | 'policies:deploy'
  | 'users:write'
  | 'tokens:write'
  | 'settings:write';

const ALL: readonly Permission[] = [
  'read',
  'alerts:write',
  'agents:write',
  'commands:write',
  'enroll:write',
  'policies:write',
  'policies:approve',
  'policies:deploy',
  'users:write',
  'tokens:write',
  'settings:write',
];

export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  owner: ALL,
  admin: ALL.filter((p) => p !== 'settings:write'),
  approver: ['read', 'alerts:write', 'policies:write', 'policies:approve', 'policies:deploy'],
  analyst: ['read', 'alerts:write', 'policies:write', 'commands:write'],
  helpdesk: ['read', 'enroll:write', 'agents:write'],
};

/** Roles a user may grant: never more than their own. */
const RANK: Readonly<Record<Role, number>> = { owner: 5, admin: 4, approver: 3, analyst: 2, helpdesk: 1 };

export function can(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission);
}

export function canGrant(actorRole: Role, role: Role): boolean {
  return RANK[actorRole] >= RANK[role];
}

/** Read-scoped API tokens may only read, whatever their role. */
export function allowedByScope(scope: 'read' | 'write', permission: Permission): boolean {
  return scope === 'write' || permission === 'read';
}
