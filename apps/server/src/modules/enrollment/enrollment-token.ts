import { parseEnrollmentToken, type EnrollmentTokenPayload } from '@yamori/protocol';

/** The token's secret, or undefined when the string is not a well-formed token. */
export function enrollmentSecret(token: string): string | undefined {
  try {
    return parseEnrollmentToken(token).secret;
  } catch {
    return undefined;
  }
}

/** One shell word: single quotes, any single quote inside closed, escaped and reopened. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The one-line install command for a token, for a POSIX shell (sh, bash, zsh), as root or as a
 * user who may sudo. The server URL and the CA fingerprint come from the token itself. Trust is
 * bootstrapped before anything runs: the server's CA is fetched unverified, then kept only if its
 * sha256 is the fingerprint written in the command; the installer is fetched over TLS that trusts
 * that CA alone, and itself checks the CA again and the package's sha256 (see distribution/install.sh).
 * The token reaches the installer through its environment, never as a command argument.
 *
 * A server without TLS (development) has nothing to pin: its command enrolls a `yamori` that is
 * already installed (from a checkout). So does a token that does not parse.
 */
export function installCommand(token: string): string {
  const withToken = `env YAMORI_ENROLL_TOKEN=${shellQuote(token.trim())}`;
  let payload: EnrollmentTokenPayload | undefined;
  try {
    payload = parseEnrollmentToken(token);
  } catch {
    payload = undefined; // (an https URL without a CA, from `admin enroll-token add --url`): enrolling says what is wrong
  }
  if (payload?.caSha256 == null) return `sudo ${withToken} yamori agent enroll && sudo yamori agent install`;
  const base = payload.url.replace(/\/+$/, '');
  const pin = payload.caSha256.toLowerCase();
  return [
    `(d=$(mktemp -d) && trap 'rm -rf "$d"' EXIT`,
    `curl -fsSk --proto =https -o "$d/ca.pem" ${shellQuote(`${base}/api/agent/v1/ca`)}`,
    `{ [ "$(sed '/^-----/d' "$d/ca.pem" | base64 -d | sha256sum | cut -c1-64)" = ${pin} ] || { echo 'yamori: the server CA does not match the fingerprint in this command; nothing was installed' >&2; false; }; }`,
    `curl -fsS --proto =https --cacert "$d/ca.pem" -o "$d/install.sh" ${shellQuote(`${base}/install.sh`)}`,
    `s= && { [ "$(id -u)" = 0 ] || s=sudo; }`,
    `$s ${withToken} bash "$d/install.sh")`,
  ].join(' && ');
}
