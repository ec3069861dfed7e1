import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { analyzeTrace, decodeString, parseSockaddr, parseStrace, splitArgs } from './strace-parse.ts';

const recorded = readFileSync(new URL('./fixtures/strace-basic.txt', import.meta.url), 'utf8');

void test('parses a recorded trace: syscalls, unfinished/resumed pairs, exits', () => {
  const events = parseStrace(recorded);
  const exec2 = events.find((e) => e.kind === 'syscall' && e.name === 'execve' && e.pid === 8957);
  assert.ok(exec2 && exec2.kind === 'syscall');
  assert.equal(exec2.ret, 0, 'the resumed half carries the result');
  assert.equal(decodeString(exec2.args[0]), '/bin/true');
  const failed = events.find((e) => e.kind === 'syscall' && e.name === 'access');
  assert.ok(failed && failed.kind === 'syscall');
  assert.equal(failed.errno, 'ENOENT');
  const exits = events.filter((e) => e.kind === 'exit');
  assert.deepEqual(
    exits.map((e) => [e.pid, e.kind === 'exit' ? e.code : null]),
    [
      [8956, 0],
      [8957, 0],
    ],
  );
});

void test('reduces a recorded trace to the process tree and file operations', () => {
  const b = analyzeTrace(parseStrace(recorded), { rootExecutable: './t' });
  assert.equal(b.rootPid, 8956);
  assert.deepEqual(
    b.processes.map((p) => [p.pid, p.ppid, p.executable, p.args]),
    [
      [8956, 0, './t', ['./t']],
      [8957, 8956, '/bin/true', ['true', 'a b"c']],
    ],
  );
  const ops = b.files
    .filter((f) => f.op !== 'read' && f.op !== 'exec')
    .map((f) => [f.op, f.path, f.to ?? null, f.ok]);
  assert.deepEqual(ops, [
    ['write', '/tmp/x.txt', null, true],
    ['chmod_exec', 'x.txt', null, true],
    ['rename', 'x.txt', 'y.txt', true],
    ['delete', 'y.txt', null, true],
  ]);
  assert.deepEqual(
    b.creds.map((c) => [c.call, c.args, c.ok]),
    [['setuid', ['0'], true]],
  );
});

void test('events before the root exec and outside its tree are dropped', () => {
  const text = [
    '100 1.0 execve("/usr/bin/bwrap", ["bwrap"], 0x1 /* 3 vars */) = 0',
    '100 1.1 openat(AT_FDCWD</>, "/etc/shadow", O_RDONLY) = 3</etc/shadow>',
    '100 1.2 clone(child_stack=NULL, flags=SIGCHLD) = 101',
    '101 1.3 execve("/sandbox/sample", ["/sandbox/sample", "x"], 0x2 /* 1 var */) = 0',
    '101 1.4 openat(AT_FDCWD</home/alice>, "notes.txt", O_WRONLY|O_CREAT|O_TRUNC, 0600) = 3</home/alice/notes.txt>',
    '100 1.5 openat(AT_FDCWD</>, "/etc/passwd", O_WRONLY) = -1 EROFS (Read-only file system)',
    '101 1.6 +++ killed by SIGSEGV (core dumped) +++',
  ].join('\n');
  const b = analyzeTrace(parseStrace(text), { rootExecutable: '/sandbox/sample' });
  assert.equal(b.rootPid, 101);
  assert.deepEqual(
    b.files.map((f) => f.path),
    ['/home/alice/notes.txt'],
  );
  const root = b.processes[0];
  assert.equal(root?.signal, 'SIGSEGV');
  assert.equal(root?.coreDumped, true);
  assert.deepEqual(root?.args, ['/sandbox/sample', 'x']);
});

void test('network attempts: connect/sendto on IPv4, IPv6, unix; failures keep their errno', () => {
  const text = [
    '7 1.0 execve("/sandbox/sample", ["/sandbox/sample"], 0x1 /* 1 var */) = 0',
    '7 1.1 connect(3<socket:[99]>, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("198.18.0.1")}, 16) = 0',
    '7 1.2 connect(4<TCP:[127.0.0.1:40000->127.0.0.1:8080]>, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)',
    '7 1.3 sendto(5<UDP:[0]>, "\\x12\\x34\\x01", 3, MSG_NOSIGNAL, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.1")}, 16) = 3',
    '7 1.4 connect(6, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28 <unfinished ...>',
    '7 1.5 <... connect resumed>) = -1 ENETUNREACH (Network is unreachable)',
    '7 1.6 connect(7, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)',
    '7 1.7 exit_group(0) = ?',
    '7 1.8 +++ exited with 0 +++',
  ].join('\n');
  const b = analyzeTrace(parseStrace(text), { rootExecutable: '/sandbox/sample' });
  assert.deepEqual(
    b.network.map((n) => [n.call, n.family, n.address, n.port, n.ok, n.errno]),
    [
      ['connect', 'inet', '198.18.0.1', 443, true, null],
      ['connect', 'inet', '127.0.0.1', 8080, false, 'ECONNREFUSED'],
      ['sendto', 'inet', '127.0.0.1', 53, true, null],
      ['connect', 'inet6', '2001:db8::1', 80, false, 'ENETUNREACH'],
      ['connect', 'unix', '/var/run/nscd/socket', null, false, 'ENOENT'],
    ],
  );
  assert.equal(b.processes[0]?.exitCode, 0);
});

void test('fork failures, ptrace, fchmod through -y, renameat2 and unlinkat with dirfds', () => {
  const text = [
    '9 1.0 execve("/sandbox/sample", ["sample"], 0x1 /* 1 var */) = 0',
    '9 1.1 clone(child_stack=NULL, flags=SIGCHLD) = -1 EAGAIN (Resource temporarily unavailable)',
    '9 1.2 fork() = -1 EAGAIN (Resource temporarily unavailable)',
    '9 1.3 ptrace(PTRACE_ATTACH, 1) = -1 EPERM (Operation not permitted)',
    '9 1.4 fchmod(3</tmp/.x/payload>, 0755) = 0',
    '9 1.5 renameat2(AT_FDCWD</home/alice>, "a.pdf", 4</home/alice/Documents>, "../a.pdf.locked", RENAME_NOREPLACE) = 0',
    '9 1.6 unlinkat(5</home/alice>, "b.txt", 0) = 0',
    '9 1.7 setresuid(0, 0, 0) = -1 EPERM (Operation not permitted)',
    '9 1.8 execve("/usr/bin/crontab", ["crontab", "-"], 0x3 /* 2 vars */) = -1 ENOENT (No such file or directory)',
  ].join('\n');
  const b = analyzeTrace(parseStrace(text), { rootExecutable: '/sandbox/sample' });
  assert.equal(b.forkFailures, 2);
  assert.deepEqual(b.ptraces, [{ pid: 9, request: 'PTRACE_ATTACH', target: 1, ok: false }]);
  assert.deepEqual(
    b.files.map((f) => [f.op, f.path, f.to ?? null, f.ok]),
    [
      ['chmod_exec', '/tmp/.x/payload', null, true],
      ['rename', '/home/alice/a.pdf', '/home/alice/a.pdf.locked', true],
      ['delete', '/home/alice/b.txt', null, true],
      ['exec', '/usr/bin/crontab', null, false],
    ],
  );
  assert.equal(b.creds[0]?.ok, false);
  assert.equal(b.processes[0]?.executable, '/sandbox/sample', 'a failed exec does not change the image');
});

void test('helpers: argument splitting, string escapes, sockaddr', () => {
  assert.deepEqual(splitArgs('a, "b, \\"c)", {x=1, y=[2, 3]}, 4</p, q>) = 0', 0).args, [
    'a',
    '"b, \\"c)"',
    '{x=1, y=[2, 3]}',
    '4</p, q>',
  ]);
  assert.equal(decodeString('"a\\nb\\x41\\101\\\\"'), 'a\nbAA\\');
  assert.equal(decodeString('"trunc"...'), 'trunc');
  assert.equal(decodeString('0x1234'), null);
  assert.equal(parseSockaddr('NULL'), null);
});

void test('a process killed mid-call keeps the call without a result; garbage lines are ignored', () => {
  const text = [
    'strace: Process 5 attached',
    '5 1.0 execve("/sandbox/sample", ["s"], 0x1 /* 1 var */) = 0',
    '5 1.1 connect(3, {sa_family=AF_INET, sin_port=htons(4444), sin_addr=inet_addr("203.0.113.9")}, 16 <unfinished ...>',
    '5 1.2 +++ killed by SIGKILL +++',
    'not a line',
  ].join('\n');
  const b = analyzeTrace(parseStrace(text), { rootExecutable: '/sandbox/sample' });
  assert.deepEqual(
    b.network.map((n) => [n.address, n.port, n.ok]),
    [['203.0.113.9', 4444, true]],
  );
  assert.equal(b.processes[0]?.signal, 'SIGKILL');
});

void test('pid namespaces (--pidns-translation): children are followed by their host pid, even when printed before the clone returns', () => {
  const text = readFileSync(new URL('./fixtures/strace-pidns.txt', import.meta.url), 'utf8');
  const b = analyzeTrace(parseStrace(text), { rootExecutable: '/bin/sh' });
  assert.equal(b.rootPid, 15049);
  assert.deepEqual(
    b.processes.map((p) => [p.pid, p.ppid, p.executable, p.exitCode]),
    [
      [15049, 15048, '/bin/sh', 0],
      [15050, 15049, '/usr/bin/ls', 0],
    ],
  );
});

void test('a real detonation trace (bwrap, perl init, test malware): only the sample tree, setup noise dropped', () => {
  const text = readFileSync(new URL('./fixtures/strace-bwrap-evil.txt', import.meta.url), 'utf8');
  const b = analyzeTrace(parseStrace(text), { rootExecutable: '/sandbox/sample' });
  assert.deepEqual(
    b.processes.map((p) => [p.ppid === b.rootPid, p.executable, p.exitCode]),
    [
      [false, '/sandbox/sample', 0],
      [true, '/tmp/.cache-update', 0],
    ],
  );
  assert.deepEqual(
    b.creds,
    [],
    "setpriv's own setresuid/capset happen before the sample and are not its behaviour",
  );
  const ops = b.files.filter((f) => f.op !== 'read').map((f) => `${f.op} ${f.path} ${f.ok ? 'ok' : f.errno}`);
  for (const expected of [
    'write /etc/cron.d/sysupdate ENOENT',
    'write /tmp/.cache-update ok',
    'chmod_exec /tmp/.cache-update ok',
    'exec /tmp/.cache-update ok',
    'write /home/alice/Documents/payroll-2026.csv ok',
  ])
    assert.ok(ops.includes(expected), expected);
  assert.deepEqual(
    b.network.filter((n) => n.family === 'inet').map((n) => `${n.address}:${n.port}`),
    ['127.0.0.1:53', '198.18.0.1:443', '127.0.0.1:53', '198.18.0.1:80'],
  );
});
