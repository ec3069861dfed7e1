import { readFileSync, writeFileSync } from 'node:fs';
import {
  addKey,
  createOrg,
  detectType,
  exportIndicators,
  importFeed,
  listOrgs,
  listSources,
  loadIntelConfig,
  loadWarninglist,
  lookup,
  openIntelDatabase,
  putSource,
  startIntelService,
  toFeedSource,
  type IntelConfig,
} from '@yamori/intel';
import {
  ExportFormat,
  FeedFormat,
  IndicatorType,
  Tlp,
  Verdict,
  type ExportQuery,
  type FeedImportReport,
  type IntelKeyScope,
  type IntelLookupResponse,
} from '@yamori/protocol';
import { intArg, parse, usageError } from '../args.ts';

const HELP = `usage: yamori intel COMMAND [options]

  serve   [--data DIR] [--database URL] [--port 8444] [--host 127.0.0.1] [--warninglist FILE]...
  import  FILE --format stix|misp|csv|list [--source NAME] [--type ip|cidr|domain|url|sha256]
          [--verdict malicious|suspicious|benign] [--confidence N] [--tlp clear|green|amber|amber+strict|red]
  export  stix|suricata|ip|domain|url|sha256|nft [--min-confidence N] [--verdict V[,V]] [--chains] [--out FILE]
  lookup  VALUE... [--type T]          (type detected per value when not given)
  org     add NAME | list
  key     add (--org ID|NAME | --worker | --admin) [--name N]
  source  set NAME [--trust 0..1] [--url URL --format F [--type T] [--interval SECONDS]] | list

Where: the service's own database (--data DIR or --database URL; default YAMORI_INTEL_DATA or
/var/lib/yamori-intel), or for import/export/lookup a running service: --url URL --key KEY
(or YAMORI_INTEL_URL / YAMORI_INTEL_KEY). --json prints machine-readable output.
The admin key for the service comes from YAMORI_INTEL_ADMIN_KEY or \`yamori intel key add --admin\`.`;

const OPTIONS = {
  data: { type: 'string' },
  database: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  warninglist: { type: 'string', multiple: true },
  format: { type: 'string' },
  source: { type: 'string' },
  type: { type: 'string' },
  verdict: { type: 'string' },
  confidence: { type: 'string' },
  tlp: { type: 'string' },
  'min-confidence': { type: 'string' },
  chains: { type: 'boolean' },
  out: { type: 'string' },
  org: { type: 'string' },
  worker: { type: 'boolean' },
  admin: { type: 'boolean' },
  name: { type: 'string' },
  trust: { type: 'string' },
  interval: { type: 'string' },
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = Partial<Record<keyof typeof OPTIONS, string | boolean | string[]>>;

const oneOf = <T extends string>(schema: { enum: readonly T[] }, value: string | undefined, flag: string): T | undefined => {
  if (value === undefined) return undefined;
  if (!schema.enum.includes(value as T)) throw new UsageProblem(`${flag} must be one of ${schema.enum.join(', ')} (got "${value}")`);
  return value as T;
};

class UsageProblem extends Error {}

export async function intelCommand(args: string[]): Promise<number> {
  const p = parse(args, OPTIONS, true);
  if (!p.ok) return usageError(`${p.error}\n\n${HELP}`);
  const v = p.values as Values & { json?: boolean; help?: boolean; chains?: boolean; worker?: boolean; admin?: boolean };
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const [cmd, ...rest] = p.positionals;
  try {
    switch (cmd) {
      case 'serve':
        return await serve(v);
      case 'import':
        return await importCmd(v, rest);
      case 'export':
        return await exportCmd(v, rest);
      case 'lookup':
        return await lookupCmd(v, rest);
      case 'org':
        return await orgCmd(v, rest);
      case 'key':
        return await keyCmd(v, rest);
      case 'source':
        return await sourceCmd(v, rest);
      default:
        return usageError(`${cmd ? `unknown intel command "${cmd}"` : 'missing intel command'}\n\n${HELP}`);
    }
  } catch (e) {
    if (e instanceof UsageProblem) return usageError(e.message);
    throw e;
  }
}

function str(v: Values, k: keyof typeof OPTIONS): string | undefined {
  const x = v[k];
  return typeof x === 'string' ? x : undefined;
}

function config(v: Values): IntelConfig {
  try {
    return loadIntelConfig(
      {
        dataDir: str(v, 'data'),
        databaseUrl: str(v, 'database'),
        port: str(v, 'port'),
        host: str(v, 'host'),
        ...(Array.isArray(v.warninglist) ? { warninglistFiles: v.warninglist } : {}),
      },
      process.env,
    );
  } catch (e) {
    throw new UsageProblem((e as Error).message);
  }
}

async function withDb<T>(v: Values, fn: (db: Awaited<ReturnType<typeof openIntelDatabase>>, c: IntelConfig) => Promise<T>): Promise<T> {
  const c = config(v);
  const database = await openIntelDatabase(c.databaseUrl);
  try {
    return await fn(database, c);
  } finally {
    await database.close();
  }
}

/** --url/--key (or the environment) select a running service instead of the local database. */
function remote(v: Values): { url: string; key: string } | undefined {
  const url = str(v, 'url') ?? process.env['YAMORI_INTEL_URL'];
  if (!url) return undefined;
  const key = str(v, 'key') ?? process.env['YAMORI_INTEL_KEY'];
  if (!key) throw new UsageProblem('--url needs --key (or YAMORI_INTEL_KEY)');
  return { url: url.replace(/\/$/, ''), key };
}

async function call(r: { url: string; key: string }, method: string, path: string, body?: string | Buffer, contentType?: string): Promise<Response> {
  const res = await fetch(`${r.url}/api/intel/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${r.key}`, ...(contentType ? { 'content-type': contentType } : {}) },
    ...(body !== undefined ? { body } : {}),
  });
  if (!res.ok) {
    const text = await res.text();
    let msg = text;
    try {
      msg = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not JSON: show as is
    }
    throw new Error(`${method} ${path}: HTTP ${res.status}: ${msg}`);
  }
  return res;
}

async function serve(v: Values): Promise<number> {
  const c = config(v);
  const svc = await startIntelService(c);
  console.log(`yamori intel listening on ${svc.url} (database ${c.databaseUrl.startsWith('sqlite:') ? c.databaseUrl : 'PostgreSQL'})`);
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
  });
  await svc.stop();
  return 0;
}

async function importCmd(v: Values, rest: string[]): Promise<number> {
  const file = rest[0];
  if (!file || rest.length > 1) return usageError(`intel import takes one FILE (use - for stdin)\n\n${HELP}`);
  const format = oneOf(FeedFormat, str(v, 'format'), '--format');
  if (!format) return usageError('intel import needs --format stix|misp|csv|list');
  const type = oneOf(IndicatorType, str(v, 'type'), '--type');
  const verdict = oneOf(Verdict, str(v, 'verdict'), '--verdict');
  const tlp = oneOf(Tlp, str(v, 'tlp'), '--tlp');
  const confidence = str(v, 'confidence') === undefined ? undefined : intArg(str(v, 'confidence'), '--confidence', 75);
  if (confidence !== undefined && confidence > 100) return usageError('--confidence must be 0–100');
  const source = str(v, 'source') ?? file.replace(/^.*\//, '').replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_.:-]/g, '_');
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  const r = remote(v);
  let report: FeedImportReport;
  if (r) {
    const q = new URLSearchParams({ format, source });
    if (type) q.set('type', type);
    if (verdict) q.set('verdict', verdict);
    if (tlp) q.set('tlp', tlp);
    if (confidence !== undefined) q.set('confidence', String(confidence));
    report = (await (await call(r, 'POST', `/feeds/import?${q.toString()}`, text, 'application/octet-stream')).json()) as FeedImportReport;
  } else {
    report = await withDb(v, (database, c) =>
      importFeed(
        {
          database,
          warninglist: loadWarninglist(c.warninglistFiles),
          now: Date.now,
          defaultTtlMs: c.feedTtlDays === null ? null : c.feedTtlDays * 86_400_000,
        },
        { text, format, source, type, verdict, confidence, tlp },
      ),
    );
  }
  if (v.json) console.log(JSON.stringify(report));
  else {
    console.log(
      `${report.source}: ${report.total} items, ${report.imported} imported, ${report.changed} changed, ` +
        `${report.rejected} rejected, ${report.unsupported} unsupported, ${report.skipped} skipped`,
    );
    for (const pr of report.problems.slice(0, 50)) console.log(`  ${pr.kind} ${pr.ref}: ${pr.reason}`);
    if (report.problems.length > 50) console.log(`  … ${report.problems.length - 50} more (--json lists up to 1000)`);
  }
  return 0;
}

async function exportCmd(v: Values, rest: string[]): Promise<number> {
  const format = oneOf(ExportFormat, rest[0], 'FORMAT');
  if (!format || rest.length > 1) return usageError(`intel export takes one FORMAT: ${ExportFormat.enum.join(', ')}`);
  const verdict = str(v, 'verdict');
  if (verdict && !/^(malicious|suspicious|benign)(,(malicious|suspicious|benign))*$/.test(verdict)) {
    return usageError('--verdict must be malicious, suspicious, benign or a comma list of them');
  }
  const q: ExportQuery = {
    ...(str(v, 'min-confidence') !== undefined ? { minConfidence: intArg(str(v, 'min-confidence'), '--min-confidence', 0) } : {}),
    ...(verdict ? { verdict } : {}),
    ...(v.chains ? { chains: true } : {}),
  };
  const r = remote(v);
  let text: string;
  if (r) {
    const qs = new URLSearchParams(Object.entries(q).map(([k, x]): [string, string] => [k, String(x)]));
    text = await (await call(r, 'GET', `/export/${format}?${qs.toString()}`)).text();
  } else {
    text = await withDb(v, (database) => exportIndicators(database.db, format, q, Date.now()));
  }
  const out = str(v, 'out');
  if (out) writeFileSync(out, text);
  else process.stdout.write(text);
  return 0;
}

async function lookupCmd(v: Values, values: string[]): Promise<number> {
  if (values.length === 0) return usageError('intel lookup needs at least one VALUE');
  const given = oneOf(IndicatorType, str(v, 'type'), '--type');
  const items = values.map((value) => {
    const type = given ?? detectType(value);
    if (!type) throw new UsageProblem(`cannot tell what "${value}" is: pass --type`);
    return { type: type === 'cidr' ? ('ip' as const) : type, value };
  });
  const r = remote(v);
  const res: IntelLookupResponse = r
    ? ((await (await call(r, 'POST', '/lookup', JSON.stringify({ items }), 'application/json')).json()) as IntelLookupResponse)
    : await withDb(v, (database) => lookup(database.db, { items }, Date.now()));
  if (v.json) console.log(JSON.stringify(res));
  else for (const x of res.results) console.log(`${x.verdict.padEnd(10)} ${String(x.confidence).padStart(3)}  ${x.type.padEnd(6)} ${x.value}${x.source ? `  (${x.source})` : ''}`);
  return 0;
}

async function orgCmd(v: Values, rest: string[]): Promise<number> {
  const [action, name] = rest;
  if (action === 'add') {
    if (!name) return usageError('intel org add needs NAME');
    const org = await withDb(v, (database) => createOrg(database.db, name, Date.now()));
    if (!org) {
      console.error(`an organization named "${name}" exists`);
      return 1;
    }
    console.log(v.json ? JSON.stringify({ id: org.id, name: org.name }) : `organization ${org.name}: id ${org.id}`);
    return 0;
  }
  if (action === 'list') {
    const orgs = await withDb(v, (database) => listOrgs(database.db));
    if (v.json) console.log(JSON.stringify(orgs.map((o) => ({ id: o.id, name: o.name, createdAt: new Date(o.created_at).toISOString() }))));
    else for (const o of orgs) console.log(`${o.id}  ${o.name}`);
    return 0;
  }
  return usageError('usage: yamori intel org add NAME | org list');
}

async function keyCmd(v: Values, rest: string[]): Promise<number> {
  if (rest[0] !== 'add') return usageError('usage: yamori intel key add (--org ID|NAME | --worker | --admin) [--name N]');
  const org = str(v, 'org');
  const chosen = [org !== undefined, v.worker === true, v.admin === true].filter(Boolean).length;
  if (chosen !== 1) return usageError('intel key add needs exactly one of --org ID|NAME, --worker, --admin');
  const scope: IntelKeyScope = org !== undefined ? 'org' : v.worker ? 'worker' : 'admin';
  const created = await withDb(v, async (database) => {
    let orgId: string | undefined;
    if (org !== undefined) {
      const found = (await listOrgs(database.db)).find((o) => o.id === org || o.name === org);
      if (!found) throw new UsageProblem(`no organization "${org}" (see yamori intel org list)`);
      orgId = found.id;
    }
    const name = str(v, 'name');
    return addKey(database.db, { scope, ...(orgId ? { orgId } : {}), ...(name ? { name } : {}) }, Date.now());
  });
  if (v.json) console.log(JSON.stringify(created));
  else console.log(`${scope} key ${created.id} (shown once, store it now):\n${created.key}`);
  return 0;
}

async function sourceCmd(v: Values, rest: string[]): Promise<number> {
  const [action, name] = rest;
  if (action === 'list') {
    const list = await withDb(v, async (database) => (await listSources(database.db)).map(toFeedSource));
    if (v.json) console.log(JSON.stringify(list));
    else for (const s of list) console.log(`${s.name.padEnd(24)} trust ${s.trust}${s.url ? `  ${s.format} every ${s.intervalS}s ${s.url}` : ''}${s.lastStatus ? `  [${s.lastStatus}]` : ''}`);
    return 0;
  }
  if (action !== 'set' || !name) return usageError('usage: yamori intel source set NAME [--trust W] [--url URL --format F [--type T] [--interval S]] | source list');
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(name)) return usageError('source NAME: letters, digits, _ . : - only');
  const trustRaw = str(v, 'trust');
  const trust = trustRaw === undefined ? undefined : Number(trustRaw);
  if (trust !== undefined && !(trust >= 0 && trust <= 1)) return usageError('--trust must be a number from 0 to 1');
  const url = str(v, 'url');
  const format = oneOf(FeedFormat, str(v, 'format'), '--format');
  if (url && !/^https?:\/\//.test(url)) return usageError('--url must be http:// or https://');
  if (url && !format) return usageError('a feed with --url needs --format');
  const type = oneOf(IndicatorType, str(v, 'type'), '--type');
  const interval = str(v, 'interval') === undefined ? undefined : intArg(str(v, 'interval'), '--interval', 3600);
  if (interval !== undefined && (interval < 60 || interval > 7 * 86400)) return usageError('--interval must be 60–604800 seconds');
  const row = await withDb(v, (database) =>
    putSource(
      database.db,
      {
        name,
        ...(trust !== undefined ? { trust } : {}),
        ...(url ? { url } : {}),
        ...(format ? { format } : {}),
        ...(type ? { type } : {}),
        ...(interval !== undefined ? { intervalS: interval } : url ? { intervalS: 3600 } : {}),
      },
      Date.now(),
    ),
  );
  const s = toFeedSource(row);
  console.log(v.json ? JSON.stringify(s) : `source ${s.name}: trust ${s.trust}${s.url ? `, fetches ${s.url} every ${s.intervalS}s` : ''}`);
  return 0;
}
