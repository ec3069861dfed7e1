import { mkdirSync } from 'node:fs';
import type { HostFacts } from '@yamori/protocol';
import { parseEnrollmentToken } from '@yamori/protocol';
import { createAgentClient, fetchPinnedCa } from './agent-client.ts';
import { loadIdentity, saveCaPem, saveCursors, saveIdentity, type Identity } from './state.ts';

/**
 * Enrollment: decode the token, fetch and pin the server CA (checked against the token's
 * fingerprint), enroll with host facts, store identity (0600) and CA in the state directory.
 * Re-enrolling the same machine reactivates the same agent id; cursors are kept only then.
 */
export interface EnrollDeps {
  stateDir: string;
  token: string;
  facts: HostFacts;
  now: () => number;
  /** Override the token's url (e.g. `--url` on the command line). Must match the token's scheme. */
  url?: string | undefined;
}

export async function enrollAgent(deps: EnrollDeps): Promise<Identity & { reactivated: boolean }> {
  const payload = parseEnrollmentToken(deps.token);
  const url = (deps.url ?? payload.url).replace(/\/+$/, '');
  if (new URL(url).protocol !== new URL(payload.url).protocol) {
    throw new Error(`--url ${url} and the token's url ${payload.url} differ in scheme: use the url the token was made for`);
  }
  mkdirSync(deps.stateDir, { recursive: true, mode: 0o700 });
  const caPem = payload.caSha256 === null ? null : await fetchPinnedCa(url, payload.caSha256);
  const client = createAgentClient({ url, caPem });
  let res;
  try {
    res = await client.enroll({ token: deps.token.trim(), facts: deps.facts });
  } finally {
    client.close();
  }
  let previous: Identity | undefined;
  try {
    previous = loadIdentity(deps.stateDir);
  } catch {
    previous = undefined;
  }
  if (caPem !== null) saveCaPem(deps.stateDir, caPem);
  const identity: Identity = {
    url,
    agentId: res.agentId,
    secret: res.secret,
    tenantId: res.tenantId,
    groupId: res.groupId,
    enrolledAt: new Date(deps.now()).toISOString(),
    pinned: caPem !== null,
  };
  if (!(res.reactivated && previous?.agentId === res.agentId && previous.url === url)) {
    saveCursors(deps.stateDir, { commandCursor: 0, verdictCursor: 0 });
  }
  saveIdentity(deps.stateDir, identity);
  return { ...identity, reactivated: res.reactivated };
}
