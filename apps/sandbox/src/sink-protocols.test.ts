import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DNS_A,
  DNS_AAAA,
  buildDnsAnswer,
  buildDnsQuery,
  createAddressBook,
  httpUrl,
  parseDnsQuery,
  parseHttpHead,
  parseTlsSni,
} from './sink-protocols.ts';

void test('DNS: parses a query and answers A with the sink address, AAAA with no data', () => {
  const q = buildDnsQuery(0x1234, 'C2.Evil-Test.example', DNS_A);
  const parsed = parseDnsQuery(q);
  assert.ok(parsed);
  assert.equal(parsed.name, 'c2.evil-test.example');
  assert.equal(parsed.qtype, DNS_A);
  const ans = buildDnsAnswer(q, parsed, '198.18.0.1');
  assert.equal(ans.readUInt16BE(0), 0x1234);
  assert.equal(ans.readUInt16BE(2) & 0x8000, 0x8000, 'QR set');
  assert.equal(ans.readUInt16BE(6), 1, 'one answer');
  assert.deepEqual([...ans.subarray(ans.length - 4)], [198, 18, 0, 1]);

  const q6 = buildDnsQuery(7, 'c2.evil-test.example', DNS_AAAA);
  const p6 = parseDnsQuery(q6);
  assert.ok(p6);
  const a6 = buildDnsAnswer(q6, p6, '198.18.0.1');
  assert.equal(a6.readUInt16BE(6), 0);
  assert.equal(a6.length, q6.length);
});

void test('DNS: malformed input is rejected', () => {
  assert.equal(parseDnsQuery(new Uint8Array(5)), null);
  const q = buildDnsQuery(1, 'a.b', DNS_A);
  assert.equal(parseDnsQuery(q.subarray(0, q.length - 3)), null);
  const resp = Buffer.from(q);
  resp.writeUInt16BE(0x8000, 2);
  assert.equal(parseDnsQuery(resp), null);
});

void test('address book: one stable sink address per name, reversible', () => {
  const book = createAddressBook();
  const a = book.addressFor('a.example');
  assert.equal(book.addressFor('b.example'), '198.18.0.2');
  assert.equal(book.addressFor('a.example'), a);
  assert.equal(book.nameFor(a), 'a.example');
  assert.equal(book.nameFor('8.8.8.8'), null);
});

/** A minimal TLS 1.2 ClientHello with an SNI extension. */
function clientHello(name: string): Buffer {
  const host = Buffer.from(name);
  const sni = Buffer.concat([
    Buffer.from([0, 0]),
    u16(host.length + 5),
    u16(host.length + 3),
    Buffer.from([0]),
    u16(host.length),
    host,
  ]);
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    u16(2),
    Buffer.from([0x13, 0x01]),
    Buffer.from([1, 0]),
    u16(sni.length),
    sni,
  ]);
  const hs = Buffer.concat([Buffer.from([1, 0]), u16(body.length), body]);
  return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(hs.length), hs]);
}
function u16(n: number): Buffer {
  return Buffer.from([n >> 8, n & 0xff]);
}

void test('TLS: SNI from a ClientHello; partial input asks for more; other bytes are not TLS', () => {
  const hello = clientHello('C2.evil-test.example');
  assert.equal(parseTlsSni(hello), 'c2.evil-test.example');
  assert.equal(parseTlsSni(hello.subarray(0, 20)), undefined);
  assert.equal(parseTlsSni(Buffer.from('GET / HTTP/1.1\r\n')), null);
});

void test('HTTP: request head, host and URL', () => {
  const head = parseHttpHead(
    Buffer.from('GET /gate.php?id=1 HTTP/1.1\r\nHost: c2.evil-test.example\r\nUser-Agent: x\r\n\r\n'),
  );
  assert.ok(head);
  assert.equal(head.host, 'c2.evil-test.example');
  assert.equal(httpUrl(head, '198.18.0.1'), 'http://c2.evil-test.example/gate.php?id=1');
  assert.equal(parseHttpHead(Buffer.from('GET / HTTP/1.1\r\nHost: a')), undefined);
  assert.equal(parseHttpHead(Buffer.from([0x16, 3, 1, 0, 5])), null);
});
