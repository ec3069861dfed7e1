import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { encodeEnrollmentToken } from '@yamori/protocol';
import { enrollmentSecret, installCommand, shellQuote } from './enrollment-token.ts';

const PIN = 'ab'.repeat(32);

test('shell quoting keeps any string one word', () => {
  for (const s of ["it's", "'", '$(id) `id` "x" \\ ; | & \n', '']) {
    assert.equal(execFileSync('sh', ['-c', `printf %s ${shellQuote(s)}`], { encoding: 'utf8' }), s);
  }
});

test('the install command pins the CA of the token, fetches the installer over it, and passes the token in the environment', () => {
  const token = encodeEnrollmentToken({ v: 1, url: 'https://yamori.example:8443/', caSha256: PIN, secret: 's'.repeat(32) });
  const cmd = installCommand(token);
  assert.match(cmd, /^\(d=\$\(mktemp -d\) && trap 'rm -rf "\$d"' EXIT && /);
  assert.ok(cmd.includes(`curl -fsSk --proto =https -o "$d/ca.pem" 'https://yamori.example:8443/api/agent/v1/ca'`), cmd);
  assert.ok(cmd.includes(`| sha256sum | cut -c1-64)" = ${PIN} ]`), cmd);
  assert.ok(cmd.includes(`curl -fsS --proto =https --cacert "$d/ca.pem" -o "$d/install.sh" 'https://yamori.example:8443/install.sh'`), cmd);
  assert.ok(cmd.endsWith(`$s env YAMORI_ENROLL_TOKEN='${token}' bash "$d/install.sh")`), cmd);
  // the installer is fetched only after the pin check, and only with the pinned CA
  assert.ok(cmd.indexOf(PIN) < cmd.indexOf('/install.sh'));
  assert.ok(!/curl -[a-zA-Z]*k[^|]*install\.sh/.test(cmd), 'the installer is never fetched with --insecure');
  // POSIX sh parses it
  execFileSync('sh', ['-n', '-c', cmd]);
});

test('a server without TLS has no pin: its command enrolls a yamori already installed', () => {
  const token = encodeEnrollmentToken({ v: 1, url: 'http://127.0.0.1:8080', caSha256: null, secret: 's'.repeat(32) });
  assert.equal(installCommand(token), `sudo env YAMORI_ENROLL_TOKEN='${token}' yamori agent enroll && sudo yamori agent install`);
  // an https URL without a CA (admin enroll-token add --url on a data directory without TLS): enrolling reports it
  const unpinned = encodeEnrollmentToken({ v: 1, url: 'https://h:8443', caSha256: null, secret: 's'.repeat(32) });
  assert.match(installCommand(unpinned), /yamori agent enroll/);
});

test('enrollmentSecret reads well-formed tokens only', () => {
  assert.equal(enrollmentSecret(encodeEnrollmentToken({ v: 1, url: 'https://h', caSha256: PIN, secret: 'x'.repeat(20) })), 'x'.repeat(20));
  assert.equal(enrollmentSecret('ymr1.garbage'), undefined);
});
