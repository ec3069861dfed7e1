import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addKey, createOrg, listOrgs, loadIntelConfig, openIntelDatabase, startIntelService } from '@yamori/intel';

export interface LocalIntel extends KeysFile {
  url: string;
  stop(): Promise<void>;
}

interface KeysFile {
  orgKey: string;
  workerKey: string;
  /** For feeds: `yamori intel import --url URL --key ADMIN_KEY`. */
  adminKey: string;
}

/**
 * The co-located intelligence service of `yamori up`: its own SQLite database in DATA/intel, on
 * loopback only, with one organization for this server and one sandbox worker key. The keys are
 * made on first start and kept (0600) in DATA/intel/local-keys.json, since intel stores only hashes;
 * the admin key there is the one to import feeds with.
 */
export async function startLocalIntel(dataDir: string, logLevel: string): Promise<LocalIntel> {
  const dir = join(dataDir, 'intel');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const config = loadIntelConfig({ dataDir: dir, host: '127.0.0.1', port: 0, logLevel }, {});
  const keysPath = join(dir, 'local-keys.json');
  let keys: KeysFile;
  if (existsSync(keysPath)) {
    keys = JSON.parse(readFileSync(keysPath, 'utf8')) as KeysFile;
  } else {
    const database = await openIntelDatabase(config.databaseUrl);
    try {
      const now = Date.now();
      const org = (await createOrg(database.db, 'local', now)) ?? (await listOrgs(database.db)).find((o) => o.name === 'local');
      if (!org) throw new Error('could not create the local intelligence organization');
      const orgKey = (await addKey(database.db, { scope: 'org', orgId: org.id, name: 'yamori up server' }, now)).key;
      const workerKey = (await addKey(database.db, { scope: 'worker', name: 'yamori up sandbox' }, now)).key;
      const adminKey = (await addKey(database.db, { scope: 'admin', name: 'yamori up admin' }, now)).key;
      keys = { orgKey, workerKey, adminKey };
      writeFileSync(keysPath, JSON.stringify(keys), { mode: 0o600 });
    } finally {
      await database.close();
    }
  }
  const svc = await startIntelService(config);
  return { url: svc.url, ...keys, stop: () => svc.stop() };
}
