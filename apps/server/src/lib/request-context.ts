import type { Kysely } from 'kysely';
import type { Role } from '@yamori/protocol';
import type { DB } from '../db-types.ts';
import type { Repos } from '../tenant-scope.ts';
import type { Permission } from './permissions.ts';
import { UnauthorizedError } from './errors.ts';

export interface UserPrincipal {
  kind: 'user';
  userId: string;
  email: string;
  memberships: ReadonlyArray<{ tenantId: string; role: Role }>;
  sessionHash: string;
  csrf: string;
}
export interface TokenPrincipal {
  kind: 'token';
  tokenId: string;
  name: string;
  tenantId: string;
  role: Role;
  scope: 'read' | 'write';
}
export type Principal = UserPrincipal | TokenPrincipal;

/** What a tenant route gets: who acts, in which tenant, with which role, and the tenant-bound repositories. */
export interface TenantContext {
  tenantId: string;
  role: Role;
  /** For the audit log: an e-mail address or `token:NAME`. */
  actor: string;
  repos: Repos;
  /** Runs `fn` in one transaction with repositories bound to the same tenant. */
  tx<T>(fn: (repos: Repos) => Promise<T>): Promise<T>;
}

export interface AgentContext {
  agentId: string;
  tenantId: string;
  groupId: string;
  hostname: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    tenant: TenantContext | null;
    agent: AgentContext | null;
  }
  interface FastifyContextConfig {
    /** The permission a tenant route requires; checked in one hook (tenant-guard). */
    permission?: Permission;
  }
}

export function actorOf(p: Principal): string {
  return p.kind === 'user' ? p.email : `token:${p.name}`;
}

export type Db = Kysely<DB>;

/** Accessors that throw if a route forgot its guard: a programming error, never a silent pass. */
export function tenantOf(req: { tenant: TenantContext | null }): TenantContext {
  if (!req.tenant) throw new Error('tenant route without tenant guard');
  return req.tenant;
}
export function agentOf(req: { agent: AgentContext | null }): AgentContext {
  if (!req.agent) throw new Error('agent route without agent authentication');
  return req.agent;
}
export function principalOf(req: { principal: Principal | null }): Principal {
  if (!req.principal) throw new UnauthorizedError();
  return req.principal;
}
