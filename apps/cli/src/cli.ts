import { usageError } from './args.ts';

type CommandFn = (args: string[]) => Promise<number>;

/** Sub-commands: each lives in its own module and is loaded only when used (fast start for scripts). */
const COMMANDS: Record<string, { module: string; fn: string; help: string }> = {
  up: { module: 'up', fn: 'upCommand', help: 'start everything on this machine (server, intelligence, sandbox) on the embedded database' },
  server: { module: 'server', fn: 'serverCommand', help: 'start one stateless management server instance (--database postgres://…)' },
  admin: { module: 'admin', fn: 'adminCommand', help: 'tenants, users, API tokens and enrollment tokens, for scripts' },
  agent: { module: 'agent', fn: 'agentCommand', help: 'the endpoint agent: enroll, run, status, install, uninstall' },
  scan: { module: 'scan', fn: 'scanCommand', help: 'scan files and directories for malware' },
  quarantine: { module: 'quarantine', fn: 'quarantineCommand', help: 'list, restore or delete quarantined files' },
  sigma: { module: 'sigma', fn: 'sigmaCommand', help: 'check Sigma rules, test them against events, push them to the server as server rules' },
  yara: { module: 'yara', fn: 'yaraCommand', help: "the tenant's YARA rule packs on a server: list, add, update, show, enable, disable, delete" },
  intel: { module: 'intel', fn: 'intelCommand', help: 'the threat intelligence service: serve, import, export, lookup' },
  sandbox: { module: 'sandbox', fn: 'sandboxCommand', help: 'detonation worker, or detonate one file' },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'usage: yamori COMMAND [options]   (yamori COMMAND --help for its options)',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.help}`),
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) return usageError(`unknown command "${name}"\n\n${usage()}`);
  const mod = (await import(`./commands/${cmd.module}.ts`)) as Record<string, unknown>;
  const fn = mod[cmd.fn];
  if (typeof fn !== 'function') throw new Error(`commands/${cmd.module}.ts does not export ${cmd.fn}`);
  try {
    return await (fn as CommandFn)(rest);
  } catch (e) {
    console.error(`yamori ${name}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
