// Pure helpers over YARA rule text: which rule a compiler message belongs to, and how matched
// bytes are shown. No libyara here, so these are testable anywhere.

const RULE_DECL = /^[ \t]*(?:(?:private|global)[ \t]+)*rule[ \t]+([A-Za-z_][A-Za-z0-9_]*)/;

/**
 * The rule declared at or before `line` (1-based) in `source`: libyara names the rule only for
 * semantic errors, so for syntax errors we find the enclosing declaration ourselves.
 */
export function enclosingRule(source: string, line: number): string | null {
  const lines = source.split('\n');
  for (let i = Math.min(line, lines.length) - 1; i >= 0; i--) {
    const m = RULE_DECL.exec(lines[i] ?? '');
    if (m?.[1]) return m[1];
  }
  return null;
}

/** libyara also prefixes some messages with `rule "X" in file(line): ` — pull the rule name out. */
export function ruleNamedInMessage(message: string): string | null {
  const m = /rule "([A-Za-z_][A-Za-z0-9_]*)"/.exec(message);
  return m?.[1] ?? null;
}

/** Matched bytes the way `yara -s` prints them: printable ASCII as is, the rest as \xNN. */
export function escapeMatchData(data: Uint8Array): string {
  let out = '';
  for (const b of data) {
    if (b >= 0x20 && b < 0x7f && b !== 0x5c) out += String.fromCharCode(b);
    else if (b === 0x5c) out += '\\\\';
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** Seconds for libyara's whole-second timeout: at least 1, rounded up. */
export function timeoutSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
