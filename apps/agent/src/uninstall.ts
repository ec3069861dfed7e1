import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Verify an uninstall password against policy.uninstall.passwordHash, which the server writes as
 * `scrypt$N$r$p$saltB64$hashB64`. Parameters come from the policy, so they are bounded here to
 * keep a bad policy from making the agent allocate gigabytes.
 */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

export function parseScryptHash(encoded: string): ScryptParams {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') throw new Error('uninstall password hash is not in the format scrypt$N$r$p$salt$hash');
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const pow2 = Number.isInteger(N) && N >= 2 && (N & (N - 1)) === 0;
  if (!pow2 || N > 2 ** 20) throw new Error(`uninstall password hash: N=${parts[1]} must be a power of two ≤ 2^20`);
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) {
    throw new Error('uninstall password hash: r must be 1..32 and p 1..16');
  }
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const hash = Buffer.from(parts[5] ?? '', 'base64');
  if (salt.length < 8 || hash.length < 16 || hash.length > 128) throw new Error('uninstall password hash: salt or hash too short');
  return { N, r, p, salt, hash };
}

function derive(password: string, q: Omit<ScryptParams, 'hash'>, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), q.salt, keylen, { N: q.N, r: q.r, p: q.p, maxmem: 256 * q.N * q.r + 16 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function verifyScryptPassword(password: string, encoded: string): Promise<boolean> {
  const q = parseScryptHash(encoded);
  const key = await derive(password, q, q.hash.length);
  return timingSafeEqual(key, q.hash);
}

/** The same format the server writes (used by tests and by `yamori admin` tooling). */
export async function hashScryptPassword(password: string, opts: { N?: number; r?: number; p?: number } = {}): Promise<string> {
  const q = { N: opts.N ?? 2 ** 15, r: opts.r ?? 8, p: opts.p ?? 1, salt: randomBytes(16) };
  const key = await derive(password, q, 32);
  return `scrypt$${q.N}$${q.r}$${q.p}$${q.salt.toString('base64')}$${key.toString('base64')}`;
}

/**
 * May the agent be uninstalled with this password? No hash in the policy = no password needed.
 * Returns a reason on refusal.
 */
export async function checkUninstall(passwordHash: string | null, password: string | undefined): Promise<{ ok: boolean; reason?: string }> {
  if (passwordHash === null) return { ok: true };
  if (!password) return { ok: false, reason: 'this agent is protected by an uninstall password: pass --password (ask your administrator)' };
  try {
    return (await verifyScryptPassword(password, passwordHash)) ? { ok: true } : { ok: false, reason: 'wrong uninstall password' };
  } catch (err) {
    return { ok: false, reason: `${(err as Error).message}; fix the policy on the server` };
  }
}
