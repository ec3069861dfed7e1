import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IntelKeyCreated, IntelKeyInput, IntelOrg, IntelOrgInput } from '@yamori/protocol';
import type { Authenticator } from '../auth.ts';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.ts';
import type { IntelKysely } from '../indicators/indicator-repository.ts';
import { createKey, createOrg, getOrg, listOrgs, revokeKey } from './org-repository.ts';

/** Organizations and API keys (admin keys). */
export interface OrgRoutesOptions {
  db: IntelKysely;
  auth: Authenticator;
  now: () => number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export const orgRoutes: FastifyPluginAsyncTypebox<OrgRoutesOptions> = async (app, opts) => {
  const { db } = opts;
  app.addHook('onRequest', opts.auth.require('admin'));

  app.get('/orgs', { schema: { response: { 200: Type.Object({ items: Type.Array(IntelOrg) }) } } }, async () => ({
    items: (await listOrgs(db)).map((o) => ({ id: o.id, name: o.name, createdAt: iso(o.created_at) })),
  }));

  app.post('/orgs', { schema: { body: IntelOrgInput, response: { 201: IntelOrg } } }, async (request, reply) => {
    const o = await createOrg(db, request.body.name, opts.now());
    if (!o) throw new ConflictError(`an organization named "${request.body.name}" exists`);
    return reply.status(201).send({ id: o.id, name: o.name, createdAt: iso(o.created_at) });
  });

  app.post('/keys', { schema: { body: IntelKeyInput, response: { 201: IntelKeyCreated } } }, async (request, reply) => {
    const k = await addKey(db, request.body, opts.now());
    return reply.status(201).send(k);
  });

  app.delete('/keys/:id', { schema: { params: Type.Object({ id: Type.String({ maxLength: 64 }) }) } }, async (request, reply) => {
    if (!(await revokeKey(db, request.params.id, opts.now()))) throw new NotFoundError(`active key ${request.params.id}`);
    return reply.status(204).send();
  });
};

/** Shared by the route and the CLI: checks the scope/org pairing, then creates the key. */
export async function addKey(db: IntelKysely, input: IntelKeyInput, now: number): Promise<IntelKeyCreated> {
  if (input.scope === 'org') {
    if (!input.orgId) throw new InvalidInputError('an org key needs orgId');
    if (!(await getOrg(db, input.orgId))) throw new NotFoundError(`organization ${input.orgId}`);
  } else if (input.orgId) throw new InvalidInputError(`a ${input.scope} key belongs to no organization: drop orgId`);
  const name = input.name ?? `${input.scope} key`;
  const { id, key } = await createKey(db, { scope: input.scope, orgId: input.orgId ?? null, name }, now);
  return { id, scope: input.scope, orgId: input.orgId ?? null, name, key };
}
