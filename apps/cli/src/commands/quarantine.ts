import { DEFAULT_QUARANTINE_DIR, openQuarantineStore, QuarantineError, type QuarantineEntry } from '@yamori/agent';
import { parse } from '../args.ts';

/** `yamori quarantine list|restore|delete`: the local quarantine store, for operators and scripts. */
export interface QuarantineCommandDeps {
  out?: (line: string) => void;
  err?: (line: string) => void;
}

const USAGE = `usage:
  yamori quarantine list [--json] [--dir DIR]
  yamori quarantine restore ID [--to PATH] [--overwrite] [--dir DIR]
  yamori quarantine delete ID… [--dir DIR]
  (store default: ${DEFAULT_QUARANTINE_DIR})`;

const OPTIONS = {
  dir: { type: 'string' },
  json: { type: 'boolean' },
  to: { type: 'string' },
  overwrite: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function row(e: QuarantineEntry): string {
  const mode = e.mode.toString(8).padStart(4, '0');
  return `${e.id}  ${e.quarantinedAt}  ${mode} ${e.uid}:${e.gid}  ${e.size}  ${e.sha256.slice(0, 16)}…  ${e.originalPath}  (${e.reason})`;
}

export async function quarantineCommand(args: string[], deps: QuarantineCommandDeps = {}): Promise<number> {
  const out = deps.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = deps.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  const [sub, ...rest] = args;
  if (!sub || sub === '--help' || sub === '-h') {
    (sub ? out : err)(USAGE);
    return sub ? 0 : 2;
  }
  const parsed = parse(rest, OPTIONS, true);
  if (!parsed.ok) {
    err(`yamori quarantine: ${parsed.error}\n${USAGE}`);
    return 2;
  }
  const o = parsed.values;
  if (o.help) {
    out(USAGE);
    return 0;
  }
  const ids = parsed.positionals;
  if (sub === 'list' ? ids.length > 0 : sub === 'restore' ? ids.length !== 1 : sub === 'delete' ? ids.length === 0 : true) {
    err(`yamori quarantine: ${['list', 'restore', 'delete'].includes(sub) ? `wrong arguments for ${sub}` : `unknown sub-command "${sub}"`}\n${USAGE}`);
    return 2;
  }
  if (sub !== 'restore' && (o.to !== undefined || o.overwrite)) {
    err(`yamori quarantine: --to and --overwrite are for restore\n${USAGE}`);
    return 2;
  }
  try {
    const store = await openQuarantineStore(o.dir ?? DEFAULT_QUARANTINE_DIR);
    if (sub === 'list') {
      const entries = await store.list();
      if (o.json) out(JSON.stringify(entries));
      else if (entries.length === 0) out('quarantine is empty');
      else for (const e of entries) out(row(e));
      return 0;
    }
    if (sub === 'restore') {
      const r = await store.restore(ids[0] as string, { ...(o.to ? { to: o.to } : {}), overwrite: o.overwrite ?? false });
      if (o.json) out(JSON.stringify(r));
      else out(`restored ${r.entry.id} to ${r.restoredTo} (sha256 verified, mode ${r.entry.mode.toString(8)}, owner ${r.entry.uid}:${r.entry.gid})`);
      return 0;
    }
    let failed = 0;
    for (const id of ids) {
      try {
        await store.delete(id);
        out(`deleted ${id}`);
      } catch (e) {
        failed++;
        err(`yamori quarantine: ${id}: ${(e as Error).message}`);
      }
    }
    return failed ? 1 : 0;
  } catch (e) {
    err(`yamori quarantine: ${e instanceof QuarantineError ? `${e.code}: ` : ''}${(e as Error).message}`);
    return 1;
  }
}
