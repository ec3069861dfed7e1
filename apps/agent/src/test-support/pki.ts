import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throw-away CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI (tests only). */
export interface TestPki {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export function makeTestPki(): TestPki {
  const d = mkdtempSync(join(tmpdir(), 'ymr-pki-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: 'pipe' });
  try {
    run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=yamori test CA');
    run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost');
    writeFileSync(join(d, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    run('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf');
    return {
      caPem: readFileSync(join(d, 'ca.pem'), 'utf8'),
      certPem: readFileSync(join(d, 'srv.pem'), 'utf8'),
      keyPem: readFileSync(join(d, 'srv.key'), 'utf8'),
    };
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}
