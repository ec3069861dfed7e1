import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '@yamori/db';
import { admin, loadConfig, serverMigrations, type DB } from '@yamori/server';
import { ROLES, type Role } from '@yamori/protocol';
import { intArg, parse, usageError } from '../args.ts';

const HELP = `usage: yamori admin [--data DIR | --database URL] [--json] WHAT ACTION [options]

  tenant list
  tenant add NAME
  user list   --tenant T
  user add    --tenant T --email E --name N --role owner|admin|approver|analyst|helpdesk [--password P]
  token add   --tenant T --name N --role R [--scope read|write] [--days N]
  enroll-token add --tenant T [--group G] [--name N] [--hours 24] [--max-uses N] [--url URL]

T is a tenant id or name. Without --password a random one is generated and printed once.
Works on the server's database directly (stop nothing; SQLite and PostgreSQL both allow it).`;

export async function adminCommand(args: string[]): Promise<number> {
  const p = parse(
    args,
    {
      data: { type: 'string' },
      database: { type: 'string' },
      json: { type: 'boolean' },
      tenant: { type: 'string' },
      email: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string' },
      password: { type: 'string' },
      scope: { type: 'string' },
      days: { type: 'string' },
      group: { type: 'string' },
      hours: { type: 'string' },
      'max-uses': { type: 'string' },
      url: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (!p.ok) return usageError(`${p.error}\n\n${HELP}`);
  const v = p.values;
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const [what, action, ...rest] = p.positionals;
  const key = `${what ?? ''} ${action ?? ''}`;
  const known = ['tenant list', 'tenant add', 'user list', 'user add', 'token add', 'enroll-token add'];
  if (!known.includes(key)) return usageError(`unknown admin command "${key.trim()}"\n\n${HELP}`);
  const role = v.role as Role | undefined;
  if (role !== undefined && !ROLES.includes(role)) return usageError(`--role must be one of ${ROLES.join(', ')}`);
  const needs = (...flags: Array<keyof typeof v>) => flags.filter((f) => v[f] === undefined).map((f) => `--${String(f)}`);
  const missing = {
    'tenant add': rest[0] ? [] : ['NAME'],
    'user list': needs('tenant'),
    'user add': needs('tenant', 'email', 'name', 'role'),
    'token add': needs('tenant', 'name', 'role'),
    'enroll-token add': needs('tenant'),
  }[key] ?? [];
  if (missing.length) return usageError(`yamori admin ${key} needs ${missing.join(', ')}\n\n${HELP}`);

  const config = loadConfig({ dataDir: v.data ?? '/var/lib/yamori-server', databaseUrl: v.database }, process.env);
  const database = await openDatabase<DB>({ url: config.databaseUrl, migrations: serverMigrations });
  const out = (human: string, data: unknown) => console.log(v.json ? JSON.stringify(data, null, 2) : human);
  try {
    const db = database.db;
    const tenant = v.tenant ? await admin.resolveTenant(db, v.tenant) : undefined;
    switch (key) {
      case 'tenant list': {
        const ts = await admin.listTenants(db);
        out(ts.map((t) => `${t.id}  ${t.name}`).join('\n'), ts);
        break;
      }
      case 'tenant add': {
        const t = await admin.createTenant(db, rest[0] ?? '');
        out(`created tenant ${t.name} (${t.id})`, t);
        break;
      }
      case 'user list': {
        const us = await admin.listUsers(db, tenant?.id ?? '');
        out(us.map((u) => `${u.id}  ${u.email}  ${u.memberships.map((m) => m.role).join(',')}${u.disabled ? '  (disabled)' : ''}`).join('\n'), us);
        break;
      }
      case 'user add': {
        const r = await admin.createUser(db, tenant?.id ?? '', { email: v.email ?? '', name: v.name ?? '', role: role ?? 'analyst', password: v.password });
        out(`added ${r.user.email} as ${role ?? ''}${r.password && !v.password ? `; one-time password: ${r.password}` : ''}`, { user: r.user, password: v.password ? undefined : r.password });
        break;
      }
      case 'token add': {
        const scope = v.scope ?? 'write';
        if (scope !== 'read' && scope !== 'write') return usageError('--scope must be read or write');
        const r = await admin.createApiToken(db, tenant?.id ?? '', { name: v.name ?? '', role: role ?? 'analyst', scope, expiresInDays: v.days ? intArg(v.days, '--days', 0) : undefined });
        out(`API token ${r.token.name} (${r.token.id}): ${r.secret}\nShown once; send it as "Authorization: Bearer <token>".`, r);
        break;
      }
      case 'enroll-token add': {
        const caPath = join(config.dataDir, 'tls', 'ca.pem');
        const caSha256 = existsSync(caPath) ? createHash('sha256').update(new X509Certificate(readFileSync(caPath)).raw).digest('hex') : null;
        const r = await admin.createEnrollmentToken(db, tenant?.id ?? '', {
          group: v.group,
          name: v.name ?? `cli ${new Date().toISOString()}`,
          expiresInHours: intArg(v.hours, '--hours', 24),
          maxUses: v['max-uses'] ? intArg(v['max-uses'], '--max-uses', 1) : undefined,
          publicUrl: v.url ?? `${caSha256 ? 'https' : 'http'}://${hostname()}:8443`,
          caSha256,
        });
        out(`enrollment token (expires ${r.enrollmentToken.expiresAt}):\n${r.token}\n\ninstall: ${r.installCommand}`, r);
        break;
      }
    }
    return 0;
  } finally {
    await database.close();
  }
}
