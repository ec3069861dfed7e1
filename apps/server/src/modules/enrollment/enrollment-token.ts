import type { EnrollmentTokenPayload } from '@yamori/protocol';

/** Enrollment token strings: `ymr1.` + base64url(JSON payload). They carry where to go and which CA to trust. */
export const ENROLLMENT_TOKEN_PREFIX = 'ymr1.';

export function encodeEnrollmentToken(p: EnrollmentTokenPayload): string {
  return ENROLLMENT_TOKEN_PREFIX + Buffer.from(JSON.stringify(p)).toString('base64url');
}

/** Returns the payload, or undefined when the string is not a well-formed token. */
export function decodeEnrollmentToken(token: string): EnrollmentTokenPayload | undefined {
  if (!token.startsWith(ENROLLMENT_TOKEN_PREFIX)) return undefined;
  try {
    const p = JSON.parse(Buffer.from(token.slice(ENROLLMENT_TOKEN_PREFIX.length), 'base64url').toString('utf8')) as Partial<EnrollmentTokenPayload>;
    if (p.v !== 1 || typeof p.secret !== 'string' || typeof p.url !== 'string') return undefined;
    return { v: 1, url: p.url, caSha256: typeof p.caSha256 === 'string' ? p.caSha256 : null, secret: p.secret };
  } catch {
    return undefined;
  }
}

export function installCommand(token: string): string {
  // Single quotes: the token is base64url, so it never contains one.
  return `sudo YAMORI_ENROLL_TOKEN='${token}' yamori agent install`;
}
