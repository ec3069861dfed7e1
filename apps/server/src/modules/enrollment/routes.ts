import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import { encodeEnrollmentToken, CreatedEnrollmentToken, CreateEnrollmentToken, EnrollmentToken, EnrollRequest, EnrollResponse, ErrorBody, Id } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { InvalidInputError, NotFoundError, UnauthorizedError } from '../../lib/errors.ts';
import { tenantOf } from '../../lib/request-context.ts';
import { randomSecret, sha256Hex } from '../../lib/secrets.ts';
import type { Clock } from '../../lib/time.ts';
import { inTenantTransaction } from '../../tenant-scope.ts';
import { findEnrollmentTokenBySecret } from './enrollment-repository.ts';
import { enrollmentSecret, installCommand } from './enrollment-token.ts';

export interface EnrollmentOptions {
  db: Kysely<DB>;
  now: Clock;
  publicUrl: string;
  caSha256: string | null;
}

/** `/api/v1/tenants/:tenantId/enrollment-tokens` */
export const enrollmentTokenRoutes: FastifyPluginAsyncTypebox<EnrollmentOptions> = async (app, { now, publicUrl, caSha256 }) => {
  app.get('/', { config: { permission: 'read' }, schema: { tags: ['enrollment'], response: { 200: Type.Array(EnrollmentToken) } } }, async (req) =>
    tenantOf(req).repos.enrollmentTokens.list(),
  );
  app.post(
    '/',
    { config: { permission: 'enroll:write' }, schema: { tags: ['enrollment'], body: CreateEnrollmentToken, response: { 201: CreatedEnrollmentToken } } },
    async (req, reply) => {
      const t = tenantOf(req);
      const secret = randomSecret();
      const at = now();
      const enrollmentToken = await t.tx(async (r) => {
        if (!(await r.groups.get(req.body.groupId))) throw new NotFoundError('agent group');
        const tok = await r.enrollmentTokens.insert(
          {
            groupId: req.body.groupId,
            name: req.body.name,
            secretHash: sha256Hex(secret),
            expiresAt: at + req.body.expiresInHours * 3600_000,
            maxUses: req.body.maxUses ?? null,
            createdBy: t.actor,
          },
          at,
        );
        await r.audit.append({ actor: t.actor, action: 'enrollment_token.created', target: `enrollment_token:${tok.id}`, after: tok, at });
        return tok;
      });
      const token = encodeEnrollmentToken({ v: 1, url: publicUrl, caSha256, secret });
      return reply.status(201).send({ enrollmentToken, token, installCommand: installCommand(token) });
    },
  );
  app.delete(
    '/:tokenId',
    {
      config: { permission: 'enroll:write' },
      schema: { tags: ['enrollment'], params: Type.Object({ tenantId: Id, tokenId: Id }), response: { 200: EnrollmentToken } },
    },
    async (req) => {
      const t = tenantOf(req);
      return t.tx(async (r) => {
        if (!(await r.enrollmentTokens.get(req.params.tokenId))) throw new NotFoundError('enrollment token');
        await r.enrollmentTokens.revoke(req.params.tokenId, now());
        const after = await r.enrollmentTokens.get(req.params.tokenId);
        if (!after) throw new NotFoundError('enrollment token');
        await r.audit.append({ actor: t.actor, action: 'enrollment_token.revoked', target: `enrollment_token:${after.id}`, after, at: now() });
        return after;
      });
    },
  );
};

/** `/api/agent/v1`: the unauthenticated part of the agent API (the CA and enrollment). */
export const agentEnrollRoutes: FastifyPluginAsyncTypebox<EnrollmentOptions & { caPem: string | null }> = async (app, { db, now, caPem }) => {
  app.get('/ca', { schema: { tags: ['agent'], response: { 200: Type.String(), 404: ErrorBody } } }, async (_req, reply) => {
    if (!caPem) throw new NotFoundError('CA certificate (this server runs without TLS)');
    return reply.type('text/plain').send(caPem);
  });

  app.post(
    '/enroll',
    { schema: { tags: ['agent'], body: EnrollRequest, response: { 200: EnrollResponse, 401: ErrorBody } } },
    async (req) => {
      const secret0 = enrollmentSecret(req.body.token);
      if (!secret0) throw new InvalidInputError('malformed enrollment token: copy the whole token starting with ymr1.');
      const row = await findEnrollmentTokenBySecret(db, sha256Hex(secret0));
      if (!row) throw new UnauthorizedError('unknown enrollment token: ask your administrator for a new one');
      const at = now();
      if (row.revoked_at !== null) throw new UnauthorizedError('this enrollment token was revoked');
      if (row.expires_at <= at) throw new UnauthorizedError('this enrollment token has expired');
      const secret = randomSecret();
      return inTenantTransaction(db, row.tenant_id, async (r) => {
        if (!(await r.enrollmentTokens.consume(row.id, at))) throw new UnauthorizedError('this enrollment token has been used up');
        const facts = req.body.facts;
        const known = await r.agents.byMachine(facts.machineId);
        let agentId: string;
        if (known) {
          agentId = known.id;
          await r.agents.reactivate(agentId, { groupId: row.group_id, facts, secretHash: sha256Hex(secret) }, at);
        } else {
          agentId = await r.agents.insert({ groupId: row.group_id, facts, secretHash: sha256Hex(secret) }, at);
        }
        await r.audit.append({
          actor: `enrollment_token:${row.name}`,
          action: known ? 'agent.reenrolled' : 'agent.enrolled',
          target: `agent:${agentId}`,
          after: { hostname: facts.hostname, machineId: facts.machineId, groupId: row.group_id },
          at,
        });
        return { agentId, secret: `${secret}`, tenantId: row.tenant_id, groupId: row.group_id, reactivated: !!known };
      });
    },
  );
};
