// The server's `quarantine` command: quarantine a path (optionally only if its sha256 still
// matches the alert), or list / restore / delete store entries.
import { Type } from 'typebox';
import { parseWith, type Command, type CommandResult } from '@yamori/protocol';
import { QuarantineError, type QuarantineStore } from './store.ts';

const Params = Type.Union([
  Type.Object(
    {
      action: Type.Optional(Type.Literal('quarantine')),
      path: Type.String({ minLength: 1, maxLength: 4096 }),
      sha256: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$' })),
      reason: Type.Optional(Type.String({ maxLength: 1024 })),
    },
    { additionalProperties: false },
  ),
  Type.Object({ action: Type.Literal('list') }, { additionalProperties: false }),
  Type.Object(
    {
      action: Type.Literal('restore'),
      id: Type.String({ pattern: '^[0-9a-f]{32}$' }),
      to: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
      overwrite: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  Type.Object({ action: Type.Literal('delete'), id: Type.String({ pattern: '^[0-9a-f]{32}$' }) }, { additionalProperties: false }),
]);

const out = (v: unknown) => JSON.stringify(v).slice(0, 65536);

export function createQuarantineCommandHandler(store: () => Promise<QuarantineStore>): (cmd: Command) => Promise<CommandResult> {
  return async (cmd) => {
    try {
      const p = parseWith(Params, cmd.params, 'quarantine parameters');
      const s = await store();
      if ('path' in p) {
        const q = p;
        const entry = await s.quarantine(q.path, {
          reason: q.reason ?? `server command ${cmd.id}`,
          source: 'server',
          ...(q.sha256 ? { expectedSha256: q.sha256 } : {}),
        });
        return { status: 'done', output: out(entry) };
      }
      if (p.action === 'list') return { status: 'done', output: out(await s.list()) };
      if (p.action === 'restore') {
        const r = await s.restore(p.id, { ...(p.to ? { to: p.to } : {}), overwrite: p.overwrite ?? false });
        return { status: 'done', output: out(r) };
      }
      await s.delete(p.id);
      return { status: 'done', output: out({ deleted: p.id }) };
    } catch (err) {
      const code = err instanceof QuarantineError ? `${err.code}: ` : '';
      return { status: 'failed', output: `${code}${(err as Error).message}`.slice(0, 65536) };
    }
  };
}
