/**
 * `yamori sigma …`: check rule packs and try them against recorded events.
 *
 *   sigma check PATH… [--json]               compile report: compiled/failed per category, each failure with file:line and reason
 *   sigma test RULES EVENTS.jsonl [--json]   which events (one ECS event per line) match which rules
 *   sigma synth RULES [--json]               one synthesized event per compiled rule (JSONL), for rule authors
 *
 * Exit codes: 0 ok, 1 some rules failed to compile or some event lines were unreadable, 2 usage.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadSigmaPack, synthesizeSigmaEvent, type SigmaRuleError } from '@yamori/detection';

export interface Output {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const USAGE = `usage:
  yamori sigma check PATH... [--json]
  yamori sigma test RULES EVENTS.jsonl [--json]
  yamori sigma synth RULES [--json]`;

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
      options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
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
