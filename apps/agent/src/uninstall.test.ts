import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scryptSync } from 'node:crypto';
import { checkUninstall, hashScryptPassword, parseScryptHash, verifyScryptPassword } from './uninstall.ts';

void test('verifies the server format scrypt$N$r$p$salt$hash', async () => {
  const salt = Buffer.from('0123456789abcdef');
  const key = scryptSync('correct horse', salt, 32, { N: 1024, r: 8, p: 1 });
  const enc = `scrypt$1024$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
  assert.equal(await verifyScryptPassword('correct horse', enc), true);
  assert.equal(await verifyScryptPassword('wrong horse', enc), false);
});

void test('hash/verify round trip and uninstall check', async () => {
  const enc = await hashScryptPassword('s3cret-pass', { N: 1024 });
  assert.equal(await verifyScryptPassword('s3cret-pass', enc), true);
  assert.deepEqual(await checkUninstall(null, undefined), { ok: true });
  assert.equal((await checkUninstall(enc, undefined)).ok, false);
  assert.equal((await checkUninstall(enc, 'nope')).reason, 'wrong uninstall password');
  assert.equal((await checkUninstall(enc, 's3cret-pass')).ok, true);
});

void test('refuses malformed or abusive parameters', () => {
  assert.throws(() => parseScryptHash('bcrypt$x'), /format/);
  assert.throws(() => parseScryptHash('scrypt$1000$8$1$AAAAAAAAAAA=$' + 'A'.repeat(44)), /power of two/);
  assert.throws(() => parseScryptHash(`scrypt$${2 ** 24}$8$1$AAAAAAAAAAA=$` + 'A'.repeat(44)), /power of two/);
  assert.throws(() => parseScryptHash('scrypt$1024$99$1$AAAAAAAAAAA=$' + 'A'.repeat(44)), /r must be/);
});
