import { EnrollmentTokenPayload } from './agent-api.ts';
import { parseWith } from './validate.ts';

/** Enrollment token strings: `ymr1.` + base64url(JSON payload): where to go and which CA to trust. */
export const ENROLLMENT_TOKEN_PREFIX = 'ymr1.';

export function encodeEnrollmentToken(p: EnrollmentTokenPayload): string {
  return ENROLLMENT_TOKEN_PREFIX + Buffer.from(JSON.stringify(p)).toString('base64url');
}

/** Decodes and checks a token; throws an Error that tells the person holding it what to do. */
export function parseEnrollmentToken(token: string): EnrollmentTokenPayload {
  const t = token.trim();
  if (!t.startsWith(ENROLLMENT_TOKEN_PREFIX)) {
    throw new Error(`enrollment token must start with "${ENROLLMENT_TOKEN_PREFIX}": copy the whole token from the console (Agents → Enrollment tokens)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(t.slice(ENROLLMENT_TOKEN_PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw new Error('enrollment token is not valid base64url JSON: it was probably truncated when copied');
  }
  const payload = parseWith(EnrollmentTokenPayload, json, 'enrollment token');
  let u: URL;
  try {
    u = new URL(payload.url);
  } catch {
    throw new Error(`enrollment token url ${payload.url} is not a URL: create a new token on the server`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`enrollment token url ${payload.url} is not http(s)`);
  if (u.protocol === 'https:' && payload.caSha256 === null) {
    throw new Error('enrollment token for an https server carries no CA fingerprint: create a new token on the server');
  }
  return payload;
}
