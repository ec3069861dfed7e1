import { createHash, webcrypto } from 'node:crypto';
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
// @peculiar/x509 needs a Reflect metadata polyfill loaded before it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** sha256 of the CA certificate (DER), lower-case hex: what enrollment tokens pin. */
  caSha256: string;
  created: boolean;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/**
 * On first start, makes a private CA and a server certificate signed by it in `dir` (keys 0600);
 * later starts reuse them. A server certificate missing a requested name is re-issued by the same CA,
 * so pinned agents keep trusting the server.
 */
export async function ensureTls(dir: string, names: readonly string[], now = new Date()): Promise<TlsMaterial> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const paths = {
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
  };
  let created = false;
  let caCert: x509.X509Certificate;
  let caKeys: CryptoKeyPair;
  if (existsSync(paths.caCert) && existsSync(paths.caKey)) {
    caCert = new x509.X509Certificate(readFileSync(paths.caCert, 'utf8'));
    caKeys = await importPair(readFileSync(paths.caKey, 'utf8'), caCert);
  } else {
    caKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']));
    caCert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=Yamori CA ${hostname()}, O=Yamori`,
      notBefore: new Date(now.getTime() - 3600_000),
      notAfter: new Date(now.getTime() + 20 * 365 * 86400_000),
      keys: caKeys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    writePrivate(paths.caKey, await exportKey(caKeys.privateKey));
    writeFileSync(paths.caCert, caCert.toString('pem'));
    created = true;
  }

  const wanted = [...new Set(['localhost', '127.0.0.1', '::1', hostname(), ...names])];
  let certPem = existsSync(paths.cert) && existsSync(paths.key) ? readFileSync(paths.cert, 'utf8') : undefined;
  if (certPem && !coversAll(new x509.X509Certificate(certPem), wanted)) certPem = undefined;
  if (!certPem) {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${hostname()}, O=Yamori`,
      issuer: caCert.subject,
      notBefore: new Date(now.getTime() - 3600_000),
      notAfter: new Date(now.getTime() + 2 * 365 * 86400_000),
      signingKey: caKeys.privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          wanted.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })),
        ),
        await x509.AuthorityKeyIdentifierExtension.create(caCert),
      ],
    });
    certPem = cert.toString('pem');
    writePrivate(paths.key, await exportKey(keys.privateKey));
    writeFileSync(paths.cert, certPem);
  }
  return {
    caPem: caCert.toString('pem'),
    certPem,
    keyPem: readFileSync(paths.key, 'utf8'),
    caSha256: createHash('sha256').update(Buffer.from(caCert.rawData)).digest('hex'),
    created,
  };
}

function coversAll(cert: x509.X509Certificate, names: readonly string[]): boolean {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const have = new Set(san?.names.items.map((n) => n.value) ?? []);
  return names.every((n) => have.has(n)) && cert.notAfter.getTime() > Date.now() + 30 * 86400_000;
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
}

async function exportKey(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').trim()}\n-----END PRIVATE KEY-----\n`;
}

async function importPair(pem: string, cert: x509.X509Certificate): Promise<CryptoKeyPair> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
  const publicKey = (await cert.publicKey.export(ALG, ['verify'])) as unknown as CryptoKey;
  return { privateKey, publicKey };
}

function writePrivate(path: string, data: string): void {
  writeFileSync(path, data, { mode: 0o600 });
  chmodSync(path, 0o600);
}
