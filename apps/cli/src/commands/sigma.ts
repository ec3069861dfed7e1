/**
 * `yamori sigma …`: check rule packs and try them against recorded events; manage the tenant's
 * server rules (Sigma rules the management server runs over every event batch it ingests).
 *
 *   sigma check PATH… [--json]               compile report: compiled/failed per category, each failure with file:line and reason
 *   sigma test RULES EVENTS.jsonl [--json]   which events (one ECS event per line) match which rules
 *   sigma synth RULES [--json]               one synthesized event per compiled rule (JSONL), for rule authors
 *   sigma push FILE|DIR… [--disabled]        store each rule as a server rule (refusals as file:line: reason)
 *   sigma list                               the tenant's server rules
 *   sigma rm RULE                            delete a server rule (its id or its Sigma id)
 *
 * Exit codes: 0 ok, 1 some rules failed to compile, were refused by the server, or some event lines
 * were unreadable, 2 usage.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadSigmaPack, synthesizeSigmaEvent, type SigmaRuleError } from '@yamori/detection';
import type { ServerRuleSummary } from '@yamori/protocol';
import { expandRuleFiles } from '../rule-files.ts';
import { connectServerApi, ServerApiError, UsageProblem, type ServerApi, type ServerApiOptions } from '../server-api.ts';

export interface Output {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** The environment server commands read YAMORI_URL, YAMORI_TOKEN… from (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

const USAGE = `usage:
  yamori sigma check PATH... [--json]
  yamori sigma test RULES EVENTS.jsonl [--json]
  yamori sigma synth RULES [--json]
  yamori sigma push FILE|DIR... [--disabled] [--json]
  yamori sigma list [--json]
  yamori sigma rm RULE [--json]

push, list and rm act on the tenant's server rules. Server: --url URL --token TOKEN [--ca CA.pem]
[--tenant ID] (or YAMORI_URL, YAMORI_TOKEN, YAMORI_CA, YAMORI_TENANT).`;

const stdio: Output = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

export async function sigmaCommand(args: string[]): Promise<number> {
  return runSigma(args, stdio);
}

function where(e: SigmaRuleError): string {
  return `${e.file}${e.line !== undefined ? `:${e.line}` : ''}`;
}

export async function runSigma(args: readonly string[], io: Output): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        url: { type: 'string' },
        token: { type: 'string' },
        ca: { type: 'string' },
        tenant: { type: 'string' },
        disabled: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    io.err(`yamori sigma: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  const [sub, ...paths] = parsed.positionals;
  const json = parsed.values.json === true;
  if (parsed.values.help === true) {
    io.out(USAGE);
    return 0;
  }
  try {
    switch (sub) {
      case 'check':
        if (paths.length === 0) return usage(io, 'check needs at least one rule file or directory');
        return await check(paths, json, io);
      case 'test':
        if (paths.length !== 2) return usage(io, 'test needs RULES and EVENTS.jsonl');
        return await testEvents(paths[0] as string, paths[1] as string, json, io);
      case 'synth':
        if (paths.length !== 1) return usage(io, 'synth needs RULES');
        return await synth(paths[0] as string, io);
      case 'push':
      case 'list':
      case 'rm': {
        if (sub === 'push' && paths.length === 0) return usage(io, 'push needs at least one rule file or directory');
        if (sub === 'list' && paths.length !== 0) return usage(io, 'list takes no arguments');
        if (sub === 'rm' && paths.length !== 1) return usage(io, 'rm needs one RULE (its id or Sigma id)');
        const v = parsed.values;
        return await serverRules(sub, paths, { url: v.url, token: v.token, ca: v.ca, tenant: v.tenant }, { json, disabled: v.disabled === true }, io);
      }
      default:
        return usage(io, sub === undefined ? 'missing subcommand' : `unknown subcommand '${sub}'`);
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') {
      io.err(`yamori sigma: no such file or directory: ${err.path ?? ''}`);
      return 2;
    }
    throw e;
  }
}

function usage(io: Output, why: string): number {
  io.err(`yamori sigma: ${why}\n${USAGE}`);
  return 2;
}

async function check(paths: readonly string[], json: boolean, io: Output): Promise<number> {
  const pack = await loadSigmaPack(paths);
  const cats = new Map<string, { compiled: number; failed: number }>();
  const bump = (c: string, k: 'compiled' | 'failed'): void => {
    const v = cats.get(c) ?? { compiled: 0, failed: 0 };
    v[k]++;
    cats.set(c, v);
  };
  for (const c of pack.compiled) bump(c.category, 'compiled');
  for (const e of pack.errors) bump(e.category ?? '(unknown)', 'failed');
  const categories = [...cats].sort(([a], [b]) => a.localeCompare(b)).map(([category, v]) => ({ category, ...v }));
  if (json) {
    io.out(
      JSON.stringify({
        files: pack.files,
        compiled: pack.compiled.length,
        failed: pack.errors.length,
        categories,
        failures: pack.errors,
        index: pack.engine.stats(),
      }),
    );
  } else {
    io.out(`${pack.files} rule files: ${pack.compiled.length} compiled, ${pack.errors.length} failed`);
    for (const c of categories) {
      const total = c.compiled + c.failed;
      io.out(`  ${c.category.padEnd(22)} ${String(c.compiled).padStart(4)} / ${String(total).padEnd(4)} compiled (${((100 * c.compiled) / total).toFixed(1)}%)`);
    }
    if (pack.errors.length > 0) io.out('failures:');
    for (const e of pack.errors) io.out(`  ${where(e)}: ${e.reason}${e.title ? ` [${e.title}]` : ''}`);
  }
  return pack.errors.length > 0 ? 1 : 0;
}

async function testEvents(rules: string, eventsFile: string, json: boolean, io: Output): Promise<number> {
  const pack = await loadSigmaPack([rules]);
  for (const e of pack.errors) io.err(`rule not loaded: ${where(e)}: ${e.reason}`);
  const lines = (await readFile(eventsFile, 'utf8')).split('\n');
  let events = 0;
  let matchedEvents = 0;
  let bad = 0;
  const perRule = new Map<string, number>();
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch (e) {
      bad++;
      io.err(`${eventsFile}:${i + 1}: not JSON: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    events++;
    const matches = pack.engine.match(event);
    if (matches.length > 0) matchedEvents++;
    for (const m of matches) perRule.set(m.id, (perRule.get(m.id) ?? 0) + 1);
    if (json) {
      io.out(JSON.stringify({ line: i + 1, matches: matches.map((m) => ({ id: m.id, title: m.title, level: m.level, techniques: m.techniques, response: m.response })) }));
    } else if (matches.length > 0) {
      for (const m of matches) {
        const extra = [m.techniques.join(','), m.response.length > 0 ? `response=${m.response.join(',')}` : ''].filter(Boolean).join(' ');
        io.out(`${eventsFile}:${i + 1}: ${m.level.padEnd(8)} ${m.title} (${m.id})${extra ? ` ${extra}` : ''}`);
      }
    }
  }
  const summary = { rules_loaded: pack.compiled.length, rules_failed: pack.errors.length, events, matched_events: matchedEvents, unreadable_lines: bad };
  if (json) io.out(JSON.stringify({ summary, per_rule: Object.fromEntries(perRule) }));
  else io.out(`${events} events, ${matchedEvents} matched, ${perRule.size} rules fired, ${pack.compiled.length} rules loaded${bad > 0 ? `, ${bad} unreadable lines` : ''}`);
  return bad > 0 || pack.errors.length > 0 ? 1 : 0;
}

async function synth(rules: string, io: Output): Promise<number> {
  const pack = await loadSigmaPack([rules]);
  for (const e of pack.errors) io.err(`rule not loaded: ${where(e)}: ${e.reason}`);
  let missing = 0;
  for (const c of pack.compiled) {
    const ev = synthesizeSigmaEvent(c);
    if (ev) io.out(JSON.stringify(ev));
    else {
      missing++;
      io.err(`${c.rule.file}: could not synthesize a matching event for ${c.rule.title}`);
    }
  }
  return missing > 0 || pack.errors.length > 0 ? 1 : 0;
}

const RULE_FILE = /\.ya?ml$/i;

async function resolveRule(api: ServerApi, ref: string): Promise<ServerRuleSummary> {
  const rules = (await api.tenant('GET', '/server-rules')) as ServerRuleSummary[];
  const r = rules.find((x) => x.id === ref) ?? rules.find((x) => x.sigmaId === ref);
  if (!r) throw new ServerApiError(404, { code: 'not_found', message: `no server rule with id or Sigma id "${ref}" (yamori sigma list shows them)` }, 'sigma');
  return r;
}

const ruleLine = (r: ServerRuleSummary) => `${r.id}  ${r.enabled ? 'enabled ' : 'disabled'}  ${r.level.padEnd(13)} ${r.sigmaId}  ${r.title}`;

async function serverRules(
  sub: 'push' | 'list' | 'rm',
  paths: readonly string[],
  server: ServerApiOptions,
  o: { json: boolean; disabled: boolean },
  io: Output,
): Promise<number> {
  const print = (human: string, data: unknown) => io.out(o.json ? JSON.stringify(data, null, 2) : human);
  try {
    const files = sub === 'push' ? (await expandRuleFiles(paths, RULE_FILE, '.yml or .yaml')).map((f) => f.path) : [];
    const api = await connectServerApi(server, io.env ?? process.env);
    if (sub === 'list') {
      const rules = (await api.tenant('GET', '/server-rules')) as ServerRuleSummary[];
      print(rules.length ? rules.map(ruleLine).join('\n') : 'no server rules', rules);
      return 0;
    }
    if (sub === 'rm') {
      const r = await resolveRule(api, paths[0] ?? '');
      await api.tenant('DELETE', `/server-rules/${r.id}`);
      print(`deleted server rule ${r.title} (${r.sigmaId})`, { deleted: r.id });
      return 0;
    }
    // push: every file is tried; one refusal does not stop the others.
    const pushed: ServerRuleSummary[] = [];
    const refused: Array<{ file: string; status: number; message: string }> = [];
    for (const file of files) {
      let source: string;
      try {
        source = await readFile(file, 'utf8');
      } catch (e) {
        throw new UsageProblem(`cannot read ${file}: ${(e as Error).message}`);
      }
      try {
        const r = (await api.tenant('POST', '/server-rules', { source, enabled: !o.disabled })) as ServerRuleSummary;
        pushed.push(r);
        if (!o.json) io.out(`pushed ${file}: ${r.title} (${r.sigmaId}), ${r.enabled ? 'enabled' : 'disabled'}`);
      } catch (e) {
        if (!(e instanceof ServerApiError) || e.status >= 500) throw e;
        // The server says "line N: reason"; shown as file:N: reason, like sigma check.
        const reasons = e.details.length ? e.details.map((d) => d.replace(/^line (\d+|\?): /, `${file}:$1: `)) : [`${file}: ${e.message}`];
        for (const r of reasons) io.err(r);
        refused.push({ file, status: e.status, message: reasons.join('; ') });
      }
    }
    if (o.json) io.out(JSON.stringify({ pushed, refused }, null, 2));
    else io.out(`${pushed.length} pushed, ${refused.length} refused`);
    return refused.length ? 1 : 0;
  } catch (e) {
    if (e instanceof UsageProblem) {
      io.err(`yamori sigma ${sub}: ${e.message}`);
      return 2;
    }
    if (e instanceof ServerApiError) {
      io.err(`yamori sigma ${sub}: ${e.message}`);
      for (const d of e.details) io.err(`  ${d}`);
      return 1;
    }
    io.err(`yamori sigma ${sub}: ${(e as Error).message}`);
    return 1;
  }
}
