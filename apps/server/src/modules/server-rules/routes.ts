import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CreateServerRule, ErrorBody, Id, SERVER_RULE_MAX_BYTES, ServerRule, ServerRuleSummary, UpdateServerRule } from '@yamori/protocol';
import { ConflictError, NotFoundError } from '../../lib/errors.ts';
import { tenantOf } from '../../lib/request-context.ts';
import type { Clock } from '../../lib/time.ts';
import type { Repos } from '../../tenant-scope.ts';
import { compileServerRuleOrThrow } from './rule-compile.ts';

const Params = Type.Object({ tenantId: Id, ruleId: Id });
const errors = { 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

async function ruleOr404(r: Repos, id: string) {
  const rule = await r.serverRules.get(id);
  if (!rule) throw new NotFoundError('server rule');
  return rule;
}

/** What the audit log keeps of a rule: its identity and a digest of the YAML. */
const auditView = (r: { sigmaId: string; title: string; level: string; enabled: boolean; source: string }) => ({
  sigmaId: r.sigmaId,
  title: r.title,
  level: r.level,
  enabled: r.enabled,
  sha256: createHash('sha256').update(r.source).digest('hex'),
});

const summaryOf = ({ source: _, ...s }: ServerRule): ServerRuleSummary => s;

/**
 * `/api/v1/tenants/:tenantId/server-rules`: Sigma rules the server runs over every event batch
 * the tenant's agents send (service.ts), each match an alert. An upload is parsed and compiled by
 * the agents' engine first; one that fails is refused (400 with its line and the reason) and
 * nothing is stored. Server rules only alert, so changing them needs policies:write, not deploy.
 */
export const serverRuleRoutes: FastifyPluginAsyncTypebox<{ now: Clock }> = async (app, { now }) => {
  app.get('/', { config: { permission: 'read' }, schema: { tags: ['server-rules'], response: { 200: Type.Array(ServerRuleSummary) } } }, async (req) =>
    tenantOf(req).repos.serverRules.list(),
  );

  app.get('/:ruleId', { config: { permission: 'read' }, schema: { tags: ['server-rules'], params: Params, response: { 200: ServerRule, 404: ErrorBody } } }, async (req) =>
    ruleOr404(tenantOf(req).repos, req.params.ruleId),
  );

  app.post(
    '/',
    {
      bodyLimit: SERVER_RULE_MAX_BYTES + 4096,
      config: { permission: 'policies:write' },
      schema: { tags: ['server-rules'], body: CreateServerRule, response: { 201: ServerRuleSummary, ...errors } },
    },
    async (req, reply) => {
      const t = tenantOf(req);
      const rule = compileServerRuleOrThrow(req.body.source);
      const created = await t.tx(async (r) => {
        if (await r.serverRules.sigmaIdTaken(rule.id)) throw new ConflictError(`a server rule with id ${rule.id} already exists: delete it first to replace it`);
        const fields = { sigmaId: rule.id, title: rule.title, level: rule.level, source: req.body.source, enabled: req.body.enabled ?? true };
        const id = await r.serverRules.insert(fields, t.actor, now());
        await r.audit.append({ actor: t.actor, action: 'server_rule.created', target: `server_rule:${id}`, after: auditView(fields), at: now() });
        return ruleOr404(r, id);
      });
      return reply.status(201).send(summaryOf(created));
    },
  );

  app.patch(
    '/:ruleId',
    { config: { permission: 'policies:write' }, schema: { tags: ['server-rules'], params: Params, body: UpdateServerRule, response: { 200: ServerRuleSummary, ...errors } } },
    async (req) => {
      const t = tenantOf(req);
      return t.tx(async (r) => {
        const before = await ruleOr404(r, req.params.ruleId);
        if (before.enabled === req.body.enabled) return summaryOf(before);
        await r.serverRules.setEnabled(before.id, req.body.enabled, t.actor, now());
        const after = await ruleOr404(r, before.id);
        await r.audit.append({
          actor: t.actor,
          action: req.body.enabled ? 'server_rule.enabled' : 'server_rule.disabled',
          target: `server_rule:${before.id}`,
          before: auditView(before),
          after: auditView(after),
          at: now(),
        });
        return summaryOf(after);
      });
    },
  );

  app.delete(
    '/:ruleId',
    { config: { permission: 'policies:write' }, schema: { tags: ['server-rules'], params: Params, response: { 204: Type.Null(), ...errors } } },
    async (req, reply) => {
      const t = tenantOf(req);
      await t.tx(async (r) => {
        const before = await ruleOr404(r, req.params.ruleId);
        await r.serverRules.delete(before.id);
        await r.audit.append({ actor: t.actor, action: 'server_rule.deleted', target: `server_rule:${before.id}`, before: auditView(before), at: now() });
      });
      return reply.status(204).send(null);
    },
  );
};
