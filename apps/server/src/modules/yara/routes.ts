import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CreateYaraPack, ErrorBody, Id, UpdateYaraPack, YARA_PACK_MAX_BYTES, YaraPack, YaraPackSummary, type YaraRuleSource } from '@yamori/protocol';
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError, PayloadTooLargeError } from '../../lib/errors.ts';
import { can } from '../../lib/permissions.ts';
import { tenantOf, type TenantContext } from '../../lib/request-context.ts';
import type { Clock } from '../../lib/time.ts';
import { topics, type WakeupHub } from '../../lib/wakeups.ts';
import type { Repos } from '../../tenant-scope.ts';
import { compilePackOrThrow, packFiles } from './pack-compile.ts';
import { sizeOf } from './yara-pack-repository.ts';

export interface YaraPackRoutesOptions {
  now: Clock;
  wakeups: WakeupHub;
}

const Params = Type.Object({ tenantId: Id, packId: Id });
const errors = { 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 503: ErrorBody };

async function packOr404(r: Repos, id: string) {
  const p = await r.yaraPacks.get(id);
  if (!p) throw new NotFoundError('YARA rule pack');
  return p;
}

/** What the audit log keeps of a pack: names and digests, not the (large) sources. */
const auditView = (p: { name: string; enabled: boolean; ruleCount?: number; files: readonly YaraRuleSource[] }) => ({
  name: p.name,
  enabled: p.enabled,
  ...(p.ruleCount !== undefined ? { ruleCount: p.ruleCount } : {}),
  files: p.files.map((f) => ({ name: f.name, bytes: Buffer.byteLength(f.source), sha256: createHash('sha256').update(f.source).digest('hex') })),
});

/** A change to what the agents enforce (an enabled pack, or enabling one) is a deployment. */
function requireDeploy(t: TenantContext, what: string): void {
  if (!can(t.role, 'policies:deploy')) {
    throw new ForbiddenError(`${what} changes what the agents enforce: that needs the policies:deploy permission (role ${t.role} lacks it); upload it disabled (enabled: false) for an approver to enable`);
  }
}

function checkSize(files: readonly YaraRuleSource[]): void {
  const size = sizeOf(files);
  if (size > YARA_PACK_MAX_BYTES) throw new PayloadTooLargeError(`the pack's rules total ${size} bytes, over the ${YARA_PACK_MAX_BYTES}-byte limit: split it`);
}

/**
 * `/api/v1/tenants/:tenantId/yara-packs`: tenant YARA rule packs. Every upload is compiled with
 * libyara first; a pack with any error is refused (400, one detail line per diagnostic) and
 * nothing is stored. Changes wake the agents' check-ins, which then fetch the enabled packs.
 */
export const yaraPackRoutes: FastifyPluginAsyncTypebox<YaraPackRoutesOptions> = async (app, { now, wakeups }) => {
  const wake = (t: TenantContext) => wakeups.publish(topics.yara(t.tenantId));

  app.get('/', { config: { permission: 'read' }, schema: { tags: ['yara'], response: { 200: Type.Array(YaraPackSummary) } } }, async (req) =>
    tenantOf(req).repos.yaraPacks.list(),
  );

  app.get('/:packId', { config: { permission: 'read' }, schema: { tags: ['yara'], params: Params, response: { 200: YaraPack, 404: ErrorBody } } }, async (req) =>
    packOr404(tenantOf(req).repos, req.params.packId),
  );

  app.post(
    '/',
    {
      bodyLimit: YARA_PACK_MAX_BYTES,
      config: { permission: 'policies:write' },
      schema: { tags: ['yara'], body: CreateYaraPack, response: { 201: YaraPackSummary, ...errors } },
    },
    async (req, reply) => {
      const t = tenantOf(req);
      const files = packFiles(req.body.name, req.body);
      if (!files) throw new InvalidInputError('a pack needs rules: send source (one rule text) or files (several)');
      const enabled = req.body.enabled ?? true;
      if (enabled) requireDeploy(t, 'uploading an enabled pack');
      checkSize(files);
      const { ruleCount } = await compilePackOrThrow(files);
      const summary = await t.tx(async (r) => {
        if (await r.yaraPacks.nameTaken(req.body.name)) throw new ConflictError(`a YARA rule pack named "${req.body.name}" already exists`);
        const id = await r.yaraPacks.insert({ name: req.body.name, description: req.body.description ?? '', enabled, files, ruleCount }, t.actor, now());
        await r.audit.append({ actor: t.actor, action: 'yara_pack.created', target: `yara_pack:${id}`, after: auditView({ name: req.body.name, enabled, ruleCount, files }), at: now() });
        const { files: _, ...s } = await packOr404(r, id);
        return s;
      });
      if (enabled) await wake(t);
      return reply.status(201).send(summary);
    },
  );

  app.patch(
    '/:packId',
    {
      bodyLimit: YARA_PACK_MAX_BYTES,
      config: { permission: 'policies:write' },
      schema: { tags: ['yara'], params: Params, body: UpdateYaraPack, response: { 200: YaraPackSummary, ...errors } },
    },
    async (req) => {
      const t = tenantOf(req);
      const current = await packOr404(t.repos, req.params.packId);
      const files = packFiles(req.body.name ?? current.name, req.body);
      if (req.body.enabled !== undefined && req.body.enabled !== current.enabled) requireDeploy(t, req.body.enabled ? 'enabling a pack' : 'disabling a pack');
      else if (current.enabled && files) requireDeploy(t, 'changing the rules of an enabled pack');
      let ruleCount: number | undefined;
      if (files) {
        checkSize(files);
        ruleCount = (await compilePackOrThrow(files)).ruleCount;
      }
      const summary = await t.tx(async (r) => {
        const before = await packOr404(r, req.params.packId);
        if (req.body.name !== undefined && (await r.yaraPacks.nameTaken(req.body.name, before.id))) throw new ConflictError(`a YARA rule pack named "${req.body.name}" already exists`);
        const change = {
          ...(req.body.name !== undefined ? { name: req.body.name } : {}),
          ...(req.body.description !== undefined ? { description: req.body.description } : {}),
          ...(req.body.enabled !== undefined ? { enabled: req.body.enabled } : {}),
          ...(files && ruleCount !== undefined ? { files, ruleCount } : {}),
        };
        await r.yaraPacks.update(before.id, change, t.actor, now());
        const after = await packOr404(r, before.id);
        await r.audit.append({ actor: t.actor, action: 'yara_pack.updated', target: `yara_pack:${before.id}`, before: auditView(before), after: auditView(after), at: now() });
        const { files: _, ...s } = after;
        return s;
      });
      await wake(t);
      return summary;
    },
  );

  for (const enable of [true, false]) {
    app.post(
      `/:packId/${enable ? 'enable' : 'disable'}`,
      { config: { permission: 'policies:deploy' }, schema: { tags: ['yara'], params: Params, response: { 200: YaraPackSummary, ...errors } } },
      async (req) => {
        const t = tenantOf(req);
        const summary = await t.tx(async (r) => {
          const before = await packOr404(r, req.params.packId);
          if (before.enabled !== enable) {
            await r.yaraPacks.update(before.id, { enabled: enable }, t.actor, now());
            await r.audit.append({
              actor: t.actor,
              action: enable ? 'yara_pack.enabled' : 'yara_pack.disabled',
              target: `yara_pack:${before.id}`,
              before: { enabled: before.enabled, version: before.version },
              after: { enabled: enable, version: before.version + 1 },
              at: now(),
            });
          }
          const { files: _, ...s } = await packOr404(r, before.id);
          return s;
        });
        await wake(t);
        return summary;
      },
    );
  }

  app.delete(
    '/:packId',
    { config: { permission: 'policies:write' }, schema: { tags: ['yara'], params: Params, response: { 204: Type.Null(), ...errors } } },
    async (req, reply) => {
      const t = tenantOf(req);
      const current = await packOr404(t.repos, req.params.packId);
      if (current.enabled) requireDeploy(t, 'deleting an enabled pack');
      await t.tx(async (r) => {
        const before = await packOr404(r, req.params.packId);
        await r.yaraPacks.delete(before.id);
        await r.audit.append({ actor: t.actor, action: 'yara_pack.deleted', target: `yara_pack:${before.id}`, before: auditView(before), at: now() });
      });
      if (current.enabled) await wake(t);
      return reply.status(204).send(null);
    },
  );
};
