import { parseEnrollmentToken } from '@yamori/protocol';

/** The token's secret, or undefined when the string is not a well-formed token. */
export function enrollmentSecret(token: string): string | undefined {
  try {
    return parseEnrollmentToken(token).secret;
  } catch {
    return undefined;
  }
}

export function installCommand(token: string): string {
  // Single quotes: the token is base64url, so it never contains one.
  return `sudo YAMORI_ENROLL_TOKEN='${token}' yamori agent install`;
}
