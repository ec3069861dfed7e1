import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Agent, CommandStatus, Id, IssueCommand, Limit, Cursor, UpdateAgent } from '@yamori/protocol';
import { NotFoundError } from '../../lib/errors.ts';
import { tenantOf } from '../../lib/request-context.ts';
import type { Clock } from '../../lib/time.ts';
import { topics, type WakeupHub } from '../../lib/wakeups.ts';
import { toAgent } from './agent-repository.ts';

const AgentParams = Type.Object({ tenantId: Id, agentId: Id });

/** `/api/v1/tenants/:tenantId/agents`: inventory, group moves, archiving, and commands to agents. */
export const agentRoutes: FastifyPluginAsyncTypebox<{ now: Clock; wakeups: WakeupHub }> = async (app, { now, wakeups }) => {
  app.get(
    '/',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['agents'],
        querystring: Type.Object(
          {
            groupId: Type.Optional(Id),
            status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('archived')])),
            stale: Type.Optional(Type.Boolean()),
            cursor: Cursor,
            limit: Limit,
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Agent), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
      },
    },
    async (req) => {
      const r = tenantOf(req).repos;
      const { staleAfterDays } = await r.settings.get();
      const at = now();
      const limit = req.query.limit ?? 100;
      const rows = await r.agents.list({
        groupId: req.query.groupId,
        status: req.query.status,
        staleBefore: req.query.stale ? at - staleAfterDays * 86400_000 : undefined,
        cursor: req.query.cursor,
        limit,
      });
      return { items: rows.map((a) => toAgent(a, staleAfterDays, at)), nextCursor: rows.length === limit ? (rows.at(-1)?.id ?? null) : null };
    },
  );

  app.get('/:agentId', { config: { permission: 'read' }, schema: { tags: ['agents'], params: AgentParams, response: { 200: Agent } } }, async (req) => {
    const r = tenantOf(req).repos;
    const row = await r.agents.get(req.params.agentId);
    if (!row) throw new NotFoundError('agent');
    return toAgent(row, (await r.settings.get()).staleAfterDays, now());
  });

  app.patch(
    '/:agentId',
    { config: { permission: 'agents:write' }, schema: { tags: ['agents'], params: AgentParams, body: UpdateAgent, response: { 200: Agent } } },
    async (req) => {
      const t = tenantOf(req);
      const agent = await t.tx(async (r) => {
        const before = await r.agents.get(req.params.agentId);
        if (!before) throw new NotFoundError('agent');
        if (req.body.groupId && !(await r.groups.get(req.body.groupId))) throw new NotFoundError('agent group');
        await r.agents.update(before.id, req.body);
        const after = await r.agents.get(before.id);
        if (!after) throw new NotFoundError('agent');
        await r.audit.append({
          actor: t.actor,
          action: 'agent.updated',
          target: `agent:${before.id}`,
          before: { groupId: before.group_id, status: before.status },
          after: { groupId: after.group_id, status: after.status },
          at: now(),
        });
        return toAgent(after, (await r.settings.get()).staleAfterDays, now());
      });
      await wakeups.publish(topics.agent(agent.id));
      return agent;
    },
  );

  app.get(
    '/:agentId/commands',
    { config: { permission: 'read' }, schema: { tags: ['agents'], params: AgentParams, response: { 200: Type.Array(CommandStatus) } } },
    async (req) => {
      const r = tenantOf(req).repos;
      if (!(await r.agents.get(req.params.agentId))) throw new NotFoundError('agent');
      return r.commands.forAgent(req.params.agentId);
    },
  );

  app.post(
    '/:agentId/commands',
    { config: { permission: 'commands:write' }, schema: { tags: ['agents'], params: AgentParams, body: IssueCommand, response: { 201: CommandStatus } } },
    async (req, reply) => {
      const t = tenantOf(req);
      const cmd = await t.tx(async (r) => {
        const agent = await r.agents.get(req.params.agentId);
        if (!agent) throw new NotFoundError('agent');
        const c = await r.commands.insert({ agentId: agent.id, type: req.body.type, params: req.body.params ?? {}, createdBy: t.actor }, now());
        await r.audit.append({ actor: t.actor, action: 'command.issued', target: `agent:${agent.id}`, after: { id: c.id, type: c.type, params: c.params }, at: now() });
        return c;
      });
      await wakeups.publish(topics.agent(cmd.agentId));
      return reply.status(201).send(cmd);
    },
  );
};
