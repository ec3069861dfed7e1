/**
 * `yamori yara …`: the tenant's YARA rule packs on a running management server (API token).
 *
 * Exit codes: 0 done, 1 the server refused or failed (compile errors are listed one per line),
 * 2 usage or local problems (missing flags, unreadable files).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { YaraPack, YaraPackSummary, YaraRuleSource } from '@yamori/protocol';
import { expandRuleFiles } from '../rule-files.ts';
import { connectServerApi, ServerApiError, UsageProblem, type ServerApi } from '../server-api.ts';

const USAGE = `usage: yamori yara COMMAND [options]

  list                              the tenant's packs
  add FILE|DIR... --name N [--description D] [--disabled]
                                    upload a pack (a DIR adds its .yar/.yara files); the server
                                    compiles it and refuses it with every error if any rule is broken
  update PACK FILE|DIR... [--name N] [--description D]
                                    replace a pack's rules
  show PACK [--source]              one pack (with its rule text)
  enable PACK | disable PACK        put a pack in force on the agents, or take it out
  delete PACK

PACK is a pack id or name. Server: --url URL --token TOKEN [--ca CA.pem] [--tenant ID]
(or YAMORI_URL, YAMORI_TOKEN, YAMORI_CA, YAMORI_TENANT). --json prints machine-readable output.`;

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

const stdio: Io = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

export async function yaraCommand(args: string[]): Promise<number> {
  return runYara(args, stdio);
}

const RULE_EXT = /\.ya?ra?$/i;

/** Files named on the command line (directories: their .yar/.yara files, recursively), as pack files. */
async function readRuleFiles(paths: readonly string[]): Promise<YaraRuleSource[]> {
  const out: YaraRuleSource[] = [];
  const add = async (file: string, name: string) => {
    let source: string;
    try {
      source = await readFile(file, 'utf8');
    } catch (e) {
      throw new UsageProblem(`cannot read ${file}: ${(e as Error).message}`);
    }
    const clean = name.replace(/[^A-Za-z0-9_.+-]+/g, '_').replace(/^[^A-Za-z0-9_]+/, '') || 'rules.yar';
    if (out.some((f) => f.name === clean)) throw new UsageProblem(`two files would both be named ${clean} in the pack: rename one`);
    out.push({ name: clean, source });
  };
  for (const f of await expandRuleFiles(paths, RULE_EXT, '.yar or .yara')) await add(f.path, f.name.replaceAll('/', '_'));
  return out;
}

async function resolvePack(api: ServerApi, ref: string): Promise<YaraPackSummary> {
  const packs = (await api.tenant('GET', '/yara-packs')) as YaraPackSummary[];
  const p = packs.find((x) => x.id === ref) ?? packs.find((x) => x.name === ref);
  if (!p) throw new ServerApiError(404, { code: 'not_found', message: `no YARA rule pack with id or name "${ref}" (yamori yara list shows them)` }, 'yara');
  return p;
}

function line(p: YaraPackSummary): string {
  return `${p.id}  ${p.enabled ? 'enabled ' : 'disabled'}  v${p.version}  ${String(p.ruleCount).padStart(5)} rules  ${p.fileNames.length} files  ${p.name}`;
}

export async function runYara(args: readonly string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        ca: { type: 'string' },
        tenant: { type: 'string' },
        name: { type: 'string' },
        description: { type: 'string' },
        disabled: { type: 'boolean' },
        source: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.err(`yamori yara: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const v = parsed.values;
  const [sub, ...rest] = parsed.positionals;
  if (v.help || sub === 'help') {
    io.out(USAGE);
    return 0;
  }
  const usage = (why: string) => {
    io.err(`yamori yara: ${why}\n${USAGE}`);
    return 2;
  };
  const needs: Record<string, [number, number]> = { list: [0, 0], add: [1, Infinity], update: [2, Infinity], show: [1, 1], enable: [1, 1], disable: [1, 1], delete: [1, 1] };
  if (sub === undefined) return usage('missing command');
  const n = needs[sub];
  if (!n) return usage(`unknown command "${sub}"`);
  if (rest.length < n[0] || rest.length > n[1]) return usage(`${sub} takes ${n[0] === n[1] ? n[0] : `at least ${n[0]}`} argument${n[1] === 1 ? '' : 's'}`);
  if (sub === 'add' && !v.name) return usage('add needs --name NAME for the pack');
  const print = (human: string, data: unknown) => io.out(v.json ? JSON.stringify(data, null, 2) : human);

  try {
    const files = sub === 'add' ? await readRuleFiles(rest) : sub === 'update' ? await readRuleFiles(rest.slice(1)) : undefined;
    const api = await connectServerApi({ url: v.url, token: v.token, ca: v.ca, tenant: v.tenant }, io.env ?? process.env);
    switch (sub) {
      case 'list': {
        const packs = (await api.tenant('GET', '/yara-packs')) as YaraPackSummary[];
        print(packs.length ? packs.map(line).join('\n') : 'no YARA rule packs', packs);
        return 0;
      }
      case 'add': {
        const p = (await api.tenant('POST', '/yara-packs', {
          name: v.name,
          ...(v.description !== undefined ? { description: v.description } : {}),
          enabled: v.disabled !== true,
          files,
        })) as YaraPackSummary;
        print(`added pack ${p.name} (${p.id}): ${p.ruleCount} rules in ${p.fileNames.length} files, ${p.enabled ? 'enabled' : 'disabled'}`, p);
        return 0;
      }
      case 'update': {
        const cur = await resolvePack(api, rest[0] ?? '');
        const p = (await api.tenant('PATCH', `/yara-packs/${cur.id}`, {
          files,
          ...(v.name !== undefined ? { name: v.name } : {}),
          ...(v.description !== undefined ? { description: v.description } : {}),
        })) as YaraPackSummary;
        print(`updated pack ${p.name} (${p.id}) to v${p.version}: ${p.ruleCount} rules in ${p.fileNames.length} files`, p);
        return 0;
      }
      case 'show': {
        const cur = await resolvePack(api, rest[0] ?? '');
        const p = (await api.tenant('GET', `/yara-packs/${cur.id}`)) as YaraPack;
        if (v.json) print('', v.source ? p : { ...p, files: p.files.map((f) => ({ name: f.name, bytes: Buffer.byteLength(f.source) })) });
        else {
          io.out(line(p));
          if (p.description) io.out(`  ${p.description}`);
          io.out(`  created ${p.createdAt} by ${p.createdBy}; updated ${p.updatedAt} by ${p.updatedBy}`);
          for (const f of p.files) {
            io.out(`  ${f.name} (${Buffer.byteLength(f.source)} bytes)`);
            if (v.source) io.out(f.source.replace(/\n$/, ''));
          }
        }
        return 0;
      }
      case 'enable':
      case 'disable': {
        const cur = await resolvePack(api, rest[0] ?? '');
        const p = (await api.tenant('POST', `/yara-packs/${cur.id}/${sub}`)) as YaraPackSummary;
        print(`pack ${p.name} (${p.id}) ${p.enabled ? 'enabled: the agents fetch it now' : 'disabled: the agents drop it now'}`, p);
        return 0;
      }
      case 'delete': {
        const cur = await resolvePack(api, rest[0] ?? '');
        await api.tenant('DELETE', `/yara-packs/${cur.id}`);
        print(`deleted pack ${cur.name} (${cur.id})`, { deleted: cur.id });
        return 0;
      }
    }
    return usage(`unknown command "${sub}"`);
  } catch (e) {
    if (e instanceof UsageProblem) {
      io.err(`yamori yara ${sub}: ${e.message}`);
      return 2;
    }
    if (e instanceof ServerApiError) {
      if (v.json) io.out(JSON.stringify({ status: e.status, code: e.code, message: e.message, details: e.details }, null, 2));
      io.err(`yamori yara ${sub}: ${e.message}`);
      for (const d of e.details) io.err(`  ${d}`);
      return 1;
    }
    io.err(`yamori yara ${sub}: ${(e as Error).message}`);
    return 1;
  }
}
