// Static analysis of scripts (shell, Python, Perl, PHP, Ruby, Node): obfuscation, embedded blobs,
// download-and-execute, reverse shells, persistence and anti-forensics. Pure and bounded: at most
// SCRIPT_SCAN_CHARS characters are examined and every rule is a linear-time regular expression or
// counter.
import { findBase64Blob, findHexBlob } from './blobs.ts';
import { finding, type Finding, type Severity } from './finding.ts';
import { interpreterFamily } from './file-type.ts';

/** Characters of a script examined (the agent reads at most this much). */
export const SCRIPT_SCAN_CHARS = 1 << 20;
/** A line longer than this is machine-made (packed or obfuscated). */
export const LONG_LINE_CHARS = 4000;
/** Escapes (\xNN, \NNN, \uNNNN) as a share of all characters above which text is obfuscated. */
export const ESCAPE_RATIO = 0.15;
const MIN_ESCAPES = 64;
/** Shortest base64/hex run reported as a blob. */
export const BLOB_MIN_CHARS = 400;

export interface ScriptAnalysis {
  family: string;
  lines: number;
  longestLine: number;
  findings: Finding[];
}

interface ScriptRule {
  id: string;
  weight: number;
  severity: Severity;
  message: string;
  /** Families the rule applies to; absent = all. */
  families?: readonly string[];
  /** All must match (each anywhere in the text). */
  all: readonly RegExp[];
}

const SH = ['sh'];
const DL = String.raw`(?:curl|wget|fetch)\b[^\n|;]{0,256}`;
const SHELLS = String.raw`(?:ba|da|z|k)?sh\b|python\d*|perl|ruby|php`;

/** The rules, each with its weight on the verdict scale (see verdict.ts). */
export const SCRIPT_RULES: readonly ScriptRule[] = [
  {
    id: 'script.download-exec',
    weight: 45,
    severity: 'high',
    message: 'Downloads code and runs it at once (e.g. `curl … | sh`), so what runs is never seen on disk.',
    all: [new RegExp(String.raw`${DL}\|\s*(?:sudo\s+)?(?:${SHELLS})|(?:${SHELLS})\s+(?:-c\s+)?["']?\$\(\s*${DL}\)|(?:${SHELLS})\s+<\(\s*${DL}\)`, 'i')],
  },
  {
    id: 'script.download-exec',
    weight: 45,
    severity: 'high',
    message: 'Downloads a file, makes it executable and runs it.',
    families: SH,
    all: [new RegExp(String.raw`${DL}(?:-O\s*|-o\s*|>\s*)(\S+)[\s\S]{0,400}?chmod\s+(?:\+x|[0-7]*[1357][0-7]{0,2})\b`, 'i')],
  },
  {
    id: 'script.download-exec',
    weight: 45,
    severity: 'high',
    message: 'Fetches code over the network and executes it (urllib/requests + exec).',
    families: ['python'],
    all: [/\b(?:urllib\.request|urllib2|urlopen|requests\.get)\b/, /\bexec\s*\(/],
  },
  {
    id: 'script.reverse-shell',
    weight: 60,
    severity: 'critical',
    message: 'Reverse shell: connects out and hands a shell to whoever listens.',
    all: [/\b(?:ba)?sh\s+-i\s*[>&<]+\s*\/dev\/(?:tcp|udp)\/|\/dev\/tcp\/[^\s/]+\/\d+\s*0?>&\s*1|exec\s+\d+<>\/dev\/tcp\/|\bn(?:c|cat|etcat)\b[^\n|;]{0,256}\s-[a-z]*e\s*\/bin\/(?:ba)?sh|\bsocat\b[^\n]{0,256}\bexec:[^\n]{0,256}(?:sh|bash)|\bmkfifo\b[^\n]{0,256}\|\s*\/bin\/(?:ba)?sh\s+-i[^\n]{0,256}\|\s*n(?:c|cat)\b/i],
  },
  {
    id: 'script.reverse-shell',
    weight: 60,
    severity: 'critical',
    message: 'Reverse shell: a socket is wired to the standard streams of a shell (socket + dup2/redirect + shell/pty).',
    // The three parts within a few hundred characters of each other, as in the one-liners.
    all: [/\b(?:socket|fsockopen|TCPSocket|IO::Socket::INET)\b[\s\S]{0,600}?(?:(?:\bdup2\b|open\s*\(\s*STD(?:IN|OUT)\s*,\s*["']?[+<>]*&)[\s\S]{0,600}?(?:pty\.spawn|\/bin\/(?:ba)?sh\b|\bsh["']?\s*,\s*["']-i)|\/bin\/(?:ba)?sh\s+-i\s*[<>]&)/i],
    families: ['python', 'perl', 'ruby', 'php'],
  },
  {
    id: 'script.obfuscation.decode-exec',
    weight: 40,
    severity: 'high',
    message: 'Decodes hidden text and executes it (eval/exec of base64, hex or compressed data).',
    all: [/\b(?:eval|exec|assert|system|create_function)\s*\(\s*(?:[\w.]+\()*\s*(?:base64[._]?(?:b64)?decode|b64decode|base64_decode|decode_base64|gzinflate|gzuncompress|str_rot13|zlib\.decompress|codecs\.decode|bytes\.fromhex|unhexlify|atob|Buffer\.from)/i],
  },
  {
    id: 'script.obfuscation.decode-exec',
    weight: 40,
    severity: 'high',
    message: 'Decodes hidden text and runs it in a shell (`base64 -d | sh`, `eval "$(echo … | base64 --decode)"`).',
    all: [/\b(?:base64\s+(?:-d|--decode|-D)|xxd\s+-r(?:\s+-p)?|openssl\s+(?:enc\s+)?-?base64\s+-d)\b[^\n]{0,256}\|\s*(?:sudo\s+)?(?:(?:ba|da|z)?sh|python\d*|perl)\b|\beval\s+["']?\$\([^)]{0,256}\b(?:base64\s+(?:-d|--decode)|xxd\s+-r|rev\b|gunzip|zcat)/i],
  },
  {
    id: 'script.miner',
    weight: 45,
    severity: 'high',
    message: 'Sets up a cryptocurrency miner (stratum pool URL or XMRig).',
    all: [/stratum\+(?:tcp|ssl|tls):\/\/|\bxmrig\b|--donate-level|supportxmr\.com|moneroocean\.stream|nanopool\.org|c3pool\.com|hashvault\.pro/i],
  },
  {
    id: 'script.persistence.ssh-key',
    weight: 30,
    severity: 'high',
    message: 'Adds an SSH key to authorized_keys: a way back in that survives password changes.',
    all: [/>>?\s*["']?(?:~|\$HOME|\/root|\/home\/[\w.-]+)?\/?\.ssh\/authorized_keys|authorized_keys["']?\s*,\s*["']a/],
  },
  {
    id: 'script.persistence.cron',
    weight: 20,
    severity: 'medium',
    message: 'Installs a cron job (persistence across reboots).',
    all: [/\|\s*crontab\s+-(?:\s|$)|crontab\s+-l[^\n]{0,256};\s*echo|>>?\s*\/etc\/crontab|>>?\s*\/etc\/cron\.(?:d|hourly|daily|weekly|monthly)\/|>>?\s*\/var\/spool\/cron\//m],
  },
  {
    id: 'script.persistence.systemd',
    weight: 20,
    severity: 'medium',
    message: 'Writes a systemd unit and enables it (persistence across reboots).',
    all: [/(?:>|tee\s+(?:-a\s+)?)\s*["']?(?:\/etc\/systemd\/system|\/lib\/systemd\/system|\/usr\/lib\/systemd\/system|~\/\.config\/systemd\/user)\/[\w@.-]+\.(?:service|timer)/, /systemctl\s+(?:--user\s+)?(?:enable|start|daemon-reload)/],
  },
  {
    id: 'script.persistence.ld-preload',
    weight: 35,
    severity: 'high',
    message: 'Writes /etc/ld.so.preload, injecting a library into every process (userland rootkit).',
    all: [/(?:>|tee\s+(?:-a\s+)?)\s*["']?\/etc\/ld\.so\.preload/],
  },
  {
    id: 'script.anti-forensics.history',
    weight: 20,
    severity: 'medium',
    message: 'Erases or disables shell history to hide what was done.',
    all: [/\bhistory\s+-c\b|\bunset\s+HISTFILE\b|\bHISTFILE=\/dev\/null|\bHISTSIZE=0\b|(?:rm\s+(?:-\w+\s+)*|>\s*|ln\s+-sf\s+\/dev\/null\s+)["']?(?:~|\$HOME|\/root)\/\.(?:bash|zsh|sh)_history/],
  },
  {
    id: 'script.anti-forensics.logs',
    weight: 20,
    severity: 'medium',
    message: 'Deletes or empties system logs to hide activity.',
    all: [/(?:(?:rm|shred)\s+(?:-\w+\s+)*|(?:^|[;&|]\s*|\s)(?:cat\s+\/dev\/null\s*)?>\s*|truncate\s+-s\s*0\s+)["']?\/var\/log\/(?:wtmp|btmp|lastlog|secure|auth\.log|syslog|messages|audit)|journalctl\s+--vacuum-(?:time|size)=\d+\s*[smk]?\b|\bhistory\s+-w\s+\/dev\/null/m],
  },
  {
    id: 'script.defense-evasion',
    weight: 15,
    severity: 'medium',
    message: 'Turns off a security control (SELinux, firewall, AppArmor, auditd) or makes files immutable.',
    all: [/\bsetenforce\s+0\b|\bufw\s+disable\b|systemctl\s+(?:stop|disable)\s+(?:apparmor|auditd|firewalld|falcon|yamori)|\biptables\s+-F\b|\bchattr\s+\+i\b/],
  },
  {
    id: 'script.dev-tcp',
    weight: 25,
    severity: 'medium',
    message: 'Opens a network connection through bash /dev/tcp.',
    families: ['sh', 'bash', 'unknown'],
    all: [/\/dev\/(?:tcp|udp)\/[^\s/]+\/\d+/],
  },
];

/** Analyzes script text; `interpreter` is the shebang program (`python3`, `bash`) or '' if unknown. */
export function analyzeScript(text: string, interpreter: string): ScriptAnalysis {
  const family = interpreter ? interpreterFamily(interpreter) : 'unknown';
  const s = text.length > SCRIPT_SCAN_CHARS ? text.slice(0, SCRIPT_SCAN_CHARS) : text;
  const findings: Finding[] = [];
  const seen = new Set<string>();
  for (const rule of SCRIPT_RULES) {
    if (seen.has(rule.id)) continue;
    if (rule.families && family !== 'unknown' && !rule.families.includes(family)) continue;
    const matches = rule.all.map((re) => re.exec(s));
    if (matches.every((m) => m !== null)) {
      seen.add(rule.id);
      findings.push(finding(rule.id, rule.weight, rule.severity, rule.message, matches.map((m) => m[0]).join(' … ')));
    }
  }

  // Layout: very long lines and escape-heavy text are machine-made.
  let longest = 0;
  let lines = 0;
  let lineStart = 0;
  for (let i = 0; i <= s.length; i++) {
    if (i === s.length || s.charCodeAt(i) === 10) {
      longest = Math.max(longest, i - lineStart);
      lines++;
      lineStart = i + 1;
    }
  }
  if (longest > LONG_LINE_CHARS) {
    findings.push(finding('script.obfuscation.long-line', 10, 'low', 'Contains extremely long lines, typical of packed or obfuscated code.', `${longest} characters`));
  }
  const escapes = (s.match(/\\(?:x[0-9a-fA-F]{2}|[0-7]{3}|u[0-9a-fA-F]{4})/g) ?? []).length;
  if (escapes >= MIN_ESCAPES && (escapes * 4) / Math.max(1, s.length) > ESCAPE_RATIO) {
    findings.push(finding('script.obfuscation.escapes', 20, 'medium', 'Much of the text is written as character escapes, hiding what it says.', `${escapes} escapes`));
  }
  const blob = findBlob(s);
  if (blob) {
    findings.push(finding(`script.blob.${blob.kind}`, blob.kind === 'base64' ? 15 : 10, 'low', `Contains a long ${blob.kind} blob, often an embedded payload.`, `${blob.length} characters: ${blob.head}`));
  }
  return { family, lines, longestLine: longest, findings };
}

/** A base64 or hex run long enough to hold a payload. */
function findBlob(s: string): { kind: 'base64' | 'hex'; length: number; head: string } | undefined {
  const b64 = findBase64Blob(s, BLOB_MIN_CHARS);
  if (b64) return { kind: 'base64', length: b64.length, head: b64.slice(0, 40) };
  const hex = findHexBlob(s, BLOB_MIN_CHARS);
  if (hex) return { kind: 'hex', length: hex.length, head: hex.slice(0, 40) };
  return undefined;
}
