import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  CreateGroup,
  CreatePolicy,
  CreateRevision,
  DiffEntry,
  Group,
  Id,
  PolicyRevision,
  PolicySummary,
  UpdateGroup,
  defaultPolicy,
} from '@yamori/protocol';
import { ConflictError, InvalidInputError, NotFoundError } from '../../lib/errors.ts';
import { tenantOf, type TenantContext } from '../../lib/request-context.ts';
import { jsonDiff } from '../../lib/json-diff.ts';
import type { Clock } from '../../lib/time.ts';
import { topics, type WakeupHub } from '../../lib/wakeups.ts';
import type { Repos } from '../../tenant-scope.ts';
import { policyProblems } from './policy-check.ts';

export interface PolicyRoutesOptions {
  now: Clock;
  wakeups: WakeupHub;
}

const PolicyParams = Type.Object({ tenantId: Id, policyId: Id });
const RevParams = Type.Object({ tenantId: Id, policyId: Id, revision: Type.Integer({ minimum: 1 }) });
const Rev = Type.Object({ ...PolicyRevision.properties, id: Type.Integer() });

async function policyOr404(r: Repos, id: string) {
  const p = await r.policies.get(id);
  if (!p) throw new NotFoundError('policy');
  return p;
}
async function revisionOr404(r: Repos, policyId: string, revision: number) {
  const rev = await r.policies.revision(policyId, revision);
  if (!rev) throw new NotFoundError(`revision ${revision} of this policy`);
  return rev;
}

/**
 * `/api/v1/tenants/:tenantId/policies`: revisions go draft → approved → deployed; deploying an
 * older revision is the rollback. Agents of every group using the policy hear of it at once.
 */
export const policyRoutes: FastifyPluginAsyncTypebox<PolicyRoutesOptions> = async (app, { now, wakeups }) => {
  const wake = (t: TenantContext) => wakeups.publish(topics.policy(t.tenantId));

  app.get('/', { config: { permission: 'read' }, schema: { tags: ['policies'], response: { 200: Type.Array(PolicySummary) } } }, async (req) =>
    tenantOf(req).repos.policies.list(),
  );

  app.post('/', { config: { permission: 'policies:write' }, schema: { tags: ['policies'], body: CreatePolicy, response: { 201: PolicySummary } } }, async (req, reply) => {
    const t = tenantOf(req);
    const doc = req.body.document ?? defaultPolicy();
    const problems = policyProblems(doc, now());
    if (problems.length) throw new InvalidInputError(`policy document has problems: ${problems.join('; ')}`, problems);
    const summary = await t.tx(async (r) => {
      if (await r.policies.nameTaken(req.body.name)) throw new ConflictError(`a policy named "${req.body.name}" already exists`);
      const id = await r.policies.insert({ name: req.body.name, description: req.body.description ?? '' }, now());
      await r.policies.addRevision(id, doc, 'initial draft', t.actor, now());
      await r.audit.append({ actor: t.actor, action: 'policy.created', target: `policy:${id}`, after: { name: req.body.name, document: doc }, at: now() });
      return policyOr404(r, id);
    });
    return reply.status(201).send(summary);
  });

  app.get('/:policyId', { config: { permission: 'read' }, schema: { tags: ['policies'], params: PolicyParams, response: { 200: PolicySummary } } }, async (req) =>
    policyOr404(tenantOf(req).repos, req.params.policyId),
  );

  app.get(
    '/:policyId/revisions',
    { config: { permission: 'read' }, schema: { tags: ['policies'], params: PolicyParams, response: { 200: Type.Array(Rev) } } },
    async (req) => {
      const r = tenantOf(req).repos;
      await policyOr404(r, req.params.policyId);
      return r.policies.revisions(req.params.policyId);
    },
  );

  app.post(
    '/:policyId/revisions',
    { config: { permission: 'policies:write' }, schema: { tags: ['policies'], params: PolicyParams, body: CreateRevision, response: { 201: Rev } } },
    async (req, reply) => {
      const t = tenantOf(req);
      const problems = policyProblems(req.body.document, now());
      if (problems.length) throw new InvalidInputError(`policy document has problems: ${problems.join('; ')}`, problems);
      const rev = await t.tx(async (r) => {
        await policyOr404(r, req.params.policyId);
        const created = await r.policies.addRevision(req.params.policyId, req.body.document, req.body.comment ?? '', t.actor, now());
        await r.audit.append({ actor: t.actor, action: 'policy.revision_created', target: `policy:${req.params.policyId}#${created.revision}`, after: created.document, at: now() });
        return created;
      });
      return reply.status(201).send(rev);
    },
  );

  app.get(
    '/:policyId/revisions/:revision',
    { config: { permission: 'read' }, schema: { tags: ['policies'], params: RevParams, response: { 200: Rev } } },
    async (req) => revisionOr404(tenantOf(req).repos, req.params.policyId, req.params.revision),
  );

  app.get(
    '/:policyId/revisions/:revision/diff',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['policies'],
        params: RevParams,
        querystring: Type.Object({ against: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ from: Type.Union([Type.Integer(), Type.Null()]), to: Type.Integer(), changes: Type.Array(DiffEntry) }) },
      },
    },
    async (req) => {
      const r = tenantOf(req).repos;
      const to = await revisionOr404(r, req.params.policyId, req.params.revision);
      const fromNo = req.query.against ?? (req.params.revision > 1 ? req.params.revision - 1 : null);
      const from = fromNo === null ? null : await revisionOr404(r, req.params.policyId, fromNo);
      return { from: fromNo, to: to.revision, changes: jsonDiff(from?.document ?? null, to.document) };
    },
  );

  app.post(
    '/:policyId/revisions/:revision/approve',
    { config: { permission: 'policies:approve' }, schema: { tags: ['policies'], params: RevParams, response: { 200: Rev } } },
    async (req) => {
      const t = tenantOf(req);
      return t.tx(async (r) => {
        const rev = await revisionOr404(r, req.params.policyId, req.params.revision);
        if (rev.state !== 'draft') throw new ConflictError(`revision ${rev.revision} is ${rev.state}; only drafts are approved`);
        await r.policies.approve(rev.id, t.actor, now());
        await r.audit.append({ actor: t.actor, action: 'policy.revision_approved', target: `policy:${rev.policyId}#${rev.revision}`, at: now() });
        return revisionOr404(r, req.params.policyId, req.params.revision);
      });
    },
  );

  app.post(
    '/:policyId/revisions/:revision/deploy',
    { config: { permission: 'policies:deploy' }, schema: { tags: ['policies'], params: RevParams, response: { 200: Rev } } },
    async (req) => {
      const t = tenantOf(req);
      const rev = await t.tx(async (r) => {
        const policy = await policyOr404(r, req.params.policyId);
        const rev = await revisionOr404(r, req.params.policyId, req.params.revision);
        if (rev.state === 'draft') throw new ConflictError(`revision ${rev.revision} is a draft: an approver must approve it first`);
        if (rev.state === 'deployed') throw new ConflictError(`revision ${rev.revision} is already deployed`);
        await r.policies.deploy(rev.policyId, rev.id, t.actor, now());
        const rollback = policy.deployedRevision !== null && rev.revision < policy.deployedRevision;
        await r.audit.append({
          actor: t.actor,
          action: rollback ? 'policy.rolled_back' : 'policy.deployed',
          target: `policy:${rev.policyId}#${rev.revision}`,
          before: { deployedRevision: policy.deployedRevision },
          after: { deployedRevision: rev.revision },
          at: now(),
        });
        return revisionOr404(r, req.params.policyId, req.params.revision);
      });
      await wake(t);
      return rev;
    },
  );
};

const GroupParams = Type.Object({ tenantId: Id, groupId: Id });

/** `/api/v1/tenants/:tenantId/groups`: agent groups and the policy each one runs. */
export const groupRoutes: FastifyPluginAsyncTypebox<PolicyRoutesOptions> = async (app, { now, wakeups }) => {
  app.get('/', { config: { permission: 'read' }, schema: { tags: ['groups'], response: { 200: Type.Array(Group) } } }, async (req) =>
    tenantOf(req).repos.groups.list(),
  );
  app.post('/', { config: { permission: 'policies:write' }, schema: { tags: ['groups'], body: CreateGroup, response: { 201: Group } } }, async (req, reply) => {
    const t = tenantOf(req);
    const g = await t.tx(async (r) => {
      if (await r.groups.nameTaken(req.body.name)) throw new ConflictError(`a group named "${req.body.name}" already exists`);
      if (req.body.policyId) await policyOr404(r, req.body.policyId);
      const g = await r.groups.insert({ name: req.body.name, policyId: req.body.policyId ?? null }, now());
      await r.audit.append({ actor: t.actor, action: 'group.created', target: `group:${g.id}`, after: g, at: now() });
      return g;
    });
    return reply.status(201).send(g);
  });
  app.patch(
    '/:groupId',
    { config: { permission: 'policies:deploy' }, schema: { tags: ['groups'], params: GroupParams, body: UpdateGroup, response: { 200: Group } } },
    async (req) => {
      const t = tenantOf(req);
      const g = await t.tx(async (r) => {
        const before = await r.groups.get(req.params.groupId);
        if (!before) throw new NotFoundError('agent group');
        if (req.body.name && (await r.groups.nameTaken(req.body.name, before.id))) throw new ConflictError(`a group named "${req.body.name}" already exists`);
        if (req.body.policyId) await policyOr404(r, req.body.policyId);
        await r.groups.update(before.id, req.body);
        const after = await r.groups.get(before.id);
        if (!after) throw new NotFoundError('agent group');
        await r.audit.append({ actor: t.actor, action: 'group.updated', target: `group:${before.id}`, before, after, at: now() });
        return after;
      });
      await wakeups.publish(topics.policy(t.tenantId));
      return g;
    },
  );
};
