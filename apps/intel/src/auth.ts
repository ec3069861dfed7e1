import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { IntelKeyScope } from '@yamori/protocol';
import { ForbiddenError, UnauthorizedError } from './errors.ts';
import type { IntelKysely } from './indicators/indicator-repository.ts';
import { findKey, hashKey, type KeyRecord } from './orgs/org-repository.ts';

/**
 * Bearer-key authentication. Keys are looked up by their sha256; results are cached for a few
 * seconds so a busy lookup path does not hit the database per request (a revoked key stops
 * working within `cacheMs`). The configured admin key is compared in constant time.
 */
export type Principal = KeyRecord;

export interface Authenticator {
  require(...scopes: IntelKeyScope[]): onRequestAsyncHookHandler;
  principal(request: FastifyRequest): Principal;
}

export function createAuthenticator(deps: {
  db: IntelKysely;
  adminKey: string | null;
  now: () => number;
  cacheMs?: number;
}): Authenticator {
  const cache = new Map<string, { p: Principal | undefined; until: number }>();
  const principals = new WeakMap<FastifyRequest, Principal>();
  const adminHash = deps.adminKey ? Buffer.from(hashKey(deps.adminKey), 'hex') : undefined;
  const ttl = deps.cacheMs ?? 5000;

  const resolve = async (key: string): Promise<Principal | undefined> => {
    const h = hashKey(key);
    if (adminHash && timingSafeEqual(Buffer.from(h, 'hex'), adminHash)) return { id: 'config-admin', scope: 'admin', orgId: null };
    const now = deps.now();
    const hit = cache.get(h);
    if (hit && hit.until > now) return hit.p;
    const p = await findKey(deps.db, key);
    if (cache.size > 10_000) cache.clear();
    cache.set(h, { p, until: now + ttl });
    return p;
  };

  return {
    require(...scopes) {
      return async (request) => {
        const header = request.headers.authorization;
        const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
        if (!m?.[1]) throw new UnauthorizedError();
        const p = await resolve(m[1]);
        if (!p) throw new UnauthorizedError('unknown or revoked API key');
        if (!scopes.includes(p.scope)) throw new ForbiddenError(`this endpoint needs a ${scopes.join(' or ')} key (got a ${p.scope} key)`);
        principals.set(request, p);
      };
    },
    principal(request) {
      const p = principals.get(request);
      if (!p) throw new UnauthorizedError();
      return p;
    },
  };
}
