/**
 * The ONE table that maps Sigma `logsource` categories and Sigma field names onto Yamori's ECS
 * events (packages/protocol/src/events.ts). Everything the compiler knows about events is here:
 * which event a category applies to, how to read a Sigma field from it (and how the test-event
 * synthesizer writes it), which fields keyword searches look at, and why a field is refused.
 */

/** A field value as read from an event: arrays (args, env_vars) match when any element matches. */
export type FieldValue = string | number | boolean | readonly string[] | undefined;

type Rec = Record<string, unknown>;

/** An ECS place a Sigma field reads from. `id` is a dense number used by the per-event cache. */
export interface Slot {
  readonly id: number;
  readonly path: string;
  readonly get: (event: Rec) => FieldValue;
  /** Writes a value so that `get` returns it (used to synthesize test events). */
  readonly set: (event: Rec, value: string | number) => void;
}

export type Category = 'process_creation' | 'file_event' | 'file_delete' | 'file_rename' | 'network_connection' | 'dns_query';

export const CATEGORIES: readonly Category[] = [
  'process_creation',
  'file_event',
  'file_delete',
  'file_rename',
  'network_connection',
  'dns_query',
];

function at(event: Rec, path: readonly string[]): unknown {
  let cur: unknown = event;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Rec)[key];
  }
  return cur;
}

function put(event: Rec, path: readonly string[], value: unknown): void {
  let cur = event;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string;
    const next = cur[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      const fresh: Rec = {};
      cur[key] = fresh;
      cur = fresh;
    } else {
      cur = next as Rec;
    }
  }
  cur[path[path.length - 1] as string] = value;
}

function asValue(v: unknown): FieldValue {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return undefined;
}

const slots: Slot[] = [];
const byPath = new Map<string, Slot>();

function slot(path: string, get?: (e: Rec) => FieldValue, set?: (e: Rec, v: string | number) => void): Slot {
  const parts = path.split('.');
  const s: Slot = {
    id: slots.length,
    path,
    get: get ?? ((e) => asValue(at(e, parts))),
    set: set ?? ((e, v) => put(e, parts, v)),
  };
  return register(s);
}

/** A slot whose ECS type is an integer (ports, pids): written as a number. */
function intSlot(path: string): Slot {
  const parts = path.split('.');
  return register({
    id: slots.length,
    path,
    get: (e) => asValue(at(e, parts)),
    set: (e, v) => put(e, parts, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v),
  });
}

function register(s: Slot): Slot {
  slots.push(s);
  byPath.set(s.path, s);
  return s;
}

/** ECS command lines: `command_line` when the sensor sent it, else the args joined by spaces. */
function commandLine(prefix: readonly string[]): (e: Rec) => FieldValue {
  return (e) => {
    const cl = at(e, [...prefix, 'command_line']);
    if (typeof cl === 'string') return cl;
    const args = at(e, [...prefix, 'args']);
    return Array.isArray(args) ? args.filter((a) => typeof a === 'string').join(' ') : undefined;
  };
}

const S = {
  executable: slot('process.executable'),
  commandLine: slot('process.command_line', commandLine(['process'])),
  args: slot('process.args'),
  name: slot('process.name'),
  pid: intSlot('process.pid'),
  ppid: slot(
    'process.ppid',
    (e) => asValue(at(e, ['process', 'ppid']) ?? at(e, ['process', 'parent', 'pid'])),
    (e, v) => put(e, ['process', 'ppid'], Number(v)),
  ),
  userName: slot('process.user.name'),
  userId: slot('process.user.id'),
  cwd: slot('process.working_directory'),
  envVars: slot('process.env_vars', undefined, (e, v) => put(e, ['process', 'env_vars'], [String(v)])),
  sha256: slot('process.hash.sha256'),
  /** Sysmon's `Hashes` field is `SHA256=<HEX>,…`; Yamori carries the sha256 only. */
  hashes: slot(
    'process.hash.sha256#sysmon',
    (e) => {
      const h = at(e, ['process', 'hash', 'sha256']);
      return typeof h === 'string' ? `SHA256=${h.toUpperCase()}` : undefined;
    },
    (e, v) => put(e, ['process', 'hash', 'sha256'], String(v).replace(/^sha256=/i, '').toLowerCase()),
  ),
  parentExecutable: slot('process.parent.executable'),
  parentCommandLine: slot('process.parent.command_line', commandLine(['process', 'parent'])),
  parentName: slot('process.parent.name'),
  filePath: slot('file.path'),
  fileName: slot('file.name'),
  fileOriginalPath: slot('file.Ext.original.path'),
  dstIp: slot('destination.ip'),
  dstPort: intSlot('destination.port'),
  dstDomain: slot('destination.domain'),
  srcIp: slot('source.ip'),
  srcPort: intSlot('source.port'),
  transport: slot('network.transport'),
  /** Sysmon `Initiated`: 'true' for outbound connections. */
  initiated: slot(
    'network.direction#initiated',
    (e) => {
      const d = at(e, ['network', 'direction']);
      return d === 'egress' ? 'true' : d === 'ingress' ? 'false' : undefined;
    },
    (e, v) => put(e, ['network', 'direction'], String(v).toLowerCase() === 'true' ? 'egress' : 'ingress'),
  ),
  /** Sysmon `DestinationIsIpv6` / `SourceIsIpv6`: 'true' when the connection is IPv6. */
  isIpv6: slot(
    'network.type#ipv6',
    (e) => {
      const t = at(e, ['network', 'type']);
      return t === 'ipv6' ? 'true' : t === 'ipv4' ? 'false' : undefined;
    },
    (e, v) => put(e, ['network', 'type'], String(v).toLowerCase() === 'true' ? 'ipv6' : 'ipv4'),
  ),
  dnsName: slot('dns.question.name'),
  dnsType: slot('dns.question.type'),
  dnsAnswer: slot('dns.resolved_ip'),
};

export const ALL_SLOTS: readonly Slot[] = slots;

export function slotByPath(path: string): Slot | undefined {
  return byPath.get(path);
}

/** Fields of the acting process, shared by the file and network categories. */
const actor: Record<string, Slot> = {
  Image: S.executable,
  User: S.userName,
  ProcessId: S.pid,
};

export interface CategoryMap {
  readonly category: Category;
  /** `event.dataset` of the Yamori events this category applies to. */
  readonly dataset: string;
  /** `event.type` values that make an event of that dataset belong here (any of them). */
  readonly eventTypes: readonly string[];
  /** Sigma field name → slot. ECS dotted names of the same slots are accepted too. */
  readonly fields: Readonly<Record<string, Slot>>;
  /** Where field-less keyword searches look. */
  readonly keywordSlots: readonly Slot[];
}

const processFields: Record<string, Slot> = {
  Image: S.executable,
  CommandLine: S.commandLine,
  ParentImage: S.parentExecutable,
  ParentCommandLine: S.parentCommandLine,
  User: S.userName,
  CurrentDirectory: S.cwd,
  ProcessId: S.pid,
  ParentProcessId: S.ppid,
  Hashes: S.hashes,
  sha256: S.sha256,
  Sha256: S.sha256,
  // Yamori extensions (not in Sysmon): ECS data Sigma has no name for.
  EnvVars: S.envVars,
  Args: S.args,
};

const fileFields: Record<string, Slot> = { ...actor, TargetFilename: S.filePath };

export const CATEGORY_MAPS: Readonly<Record<Category, CategoryMap>> = {
  process_creation: {
    category: 'process_creation',
    dataset: 'yamori.process',
    eventTypes: ['start'],
    fields: processFields,
    keywordSlots: [S.executable, S.commandLine, S.parentExecutable, S.parentCommandLine, S.cwd, S.envVars],
  },
  // A rename creates the target name, so it counts as a file_event (Sysmon FileCreate semantics).
  file_event: {
    category: 'file_event',
    dataset: 'yamori.file',
    eventTypes: ['creation', 'change', 'rename'],
    fields: fileFields,
    keywordSlots: [S.filePath, S.executable],
  },
  file_delete: {
    category: 'file_delete',
    dataset: 'yamori.file',
    eventTypes: ['deletion'],
    fields: fileFields,
    keywordSlots: [S.filePath, S.executable],
  },
  file_rename: {
    category: 'file_rename',
    dataset: 'yamori.file',
    eventTypes: ['rename'],
    fields: { ...fileFields, SourceFilename: S.fileOriginalPath },
    keywordSlots: [S.filePath, S.fileOriginalPath, S.executable],
  },
  network_connection: {
    category: 'network_connection',
    dataset: 'yamori.network',
    eventTypes: [],
    fields: {
      ...actor,
      DestinationIp: S.dstIp,
      DestinationPort: S.dstPort,
      DestinationHostname: S.dstDomain,
      SourceIp: S.srcIp,
      SourcePort: S.srcPort,
      Initiated: S.initiated,
      Protocol: S.transport,
      DestinationIsIpv6: S.isIpv6,
      SourceIsIpv6: S.isIpv6,
    },
    keywordSlots: [S.executable, S.dstDomain, S.dstIp],
  },
  dns_query: {
    category: 'dns_query',
    dataset: 'yamori.dns',
    eventTypes: [],
    fields: { ...actor, QueryName: S.dnsName, QueryType: S.dnsType, QueryResults: S.dnsAnswer },
    keywordSlots: [S.dnsName, S.executable],
  },
};

/** Sigma fields Yamori's events cannot carry, with the reason shown in compile reports. */
export const UNSUPPORTED_FIELDS: Readonly<Record<string, string>> = {
  OriginalFileName: 'PE version information; Linux executables have none',
  Product: 'PE version information; Linux executables have none',
  Company: 'PE version information; Linux executables have none',
  Description: 'PE version information; Linux executables have none',
  FileVersion: 'PE version information; Linux executables have none',
  IntegrityLevel: 'a Windows token property',
  LogonId: 'the login session id is not collected by the Yamori sensor',
  LogonGuid: 'not collected by the Yamori sensor',
  TerminalSessionId: 'not collected by the Yamori sensor',
  ProcessGuid: 'Sysmon-specific; Yamori uses process.entity_id',
  ParentProcessGuid: 'Sysmon-specific; Yamori uses process.parent.entity_id',
  ParentUser: 'not collected by the Yamori sensor',
  DestinationHostnameResolved: 'not collected by the Yamori sensor',
};

/** Resolve a Sigma field (or the ECS name of a mapped field) for a category. */
export function resolveField(category: Category, field: string): { slot: Slot } | { error: string } {
  const map = CATEGORY_MAPS[category];
  const direct = Object.hasOwn(map.fields, field) ? map.fields[field] : undefined;
  if (direct) return { slot: direct };
  const ecs = Object.values(map.fields).find((s) => s.path === field);
  if (ecs) return { slot: ecs };
  const why = UNSUPPORTED_FIELDS[field];
  if (why) return { error: `unsupported field ${field}: ${why}` };
  return { error: `unknown field ${field} for category ${category}` };
}

/** Products whose rules Yamori can run; anything else is refused as an unsupported logsource. */
export function resolveLogsource(ls: {
  readonly product?: string;
  readonly category?: string;
  readonly service?: string;
}): { category: Category } | { error: string } {
  if (ls.product !== undefined && ls.product !== 'linux') {
    return { error: `unsupported logsource: product ${ls.product} (Yamori runs linux rules)` };
  }
  if (ls.service !== undefined) {
    return { error: `unsupported logsource: service ${ls.service} (no ${ls.service} event source in Yamori)` };
  }
  if (ls.category === undefined) return { error: 'unsupported logsource: no category (builtin log rules need a log source)' };
  if ((CATEGORIES as readonly string[]).includes(ls.category)) return { category: ls.category as Category };
  return { error: `unsupported logsource: category ${ls.category}` };
}

/** Which categories an event belongs to (usually one; a file rename is both file_event and file_rename). */
export function eventCategories(event: Rec): Category[] {
  const meta = event['event'];
  if (meta === null || typeof meta !== 'object') return [];
  const dataset = (meta as Rec)['dataset'];
  const typesRaw = (meta as Rec)['type'];
  const types = Array.isArray(typesRaw) ? (typesRaw as unknown[]) : [];
  const out: Category[] = [];
  for (const c of CATEGORIES) {
    const m = CATEGORY_MAPS[c];
    if (m.dataset !== dataset) continue;
    if (m.eventTypes.length > 0 && !types.some((t) => m.eventTypes.includes(t as string))) continue;
    out.push(c);
  }
  return out;
}

/** A minimal valid-looking ECS event of a category, for synthesized and benign test events. */
export function skeletonEvent(category: Category): Rec {
  const m = CATEGORY_MAPS[category];
  const type = m.eventTypes[0] ?? (category === 'network_connection' ? 'connection' : 'info');
  const base: Rec = {
    '@timestamp': '2026-01-01T00:00:00.000Z',
    event: {
      id: 'synth-00000001',
      dataset: m.dataset,
      kind: 'event',
      category: [category === 'dns_query' ? 'network' : m.dataset.slice('yamori.'.length)],
      type: [type],
      action: category,
    },
  };
  if (category === 'process_creation') base['process'] = { entity_id: 'synth', pid: 4242 };
  else if (category.startsWith('file')) base['file'] = { path: '/nonexistent' };
  else if (category === 'network_connection') {
    base['source'] = { ip: '10.0.0.2' };
    base['destination'] = { ip: '203.0.113.10' };
    base['network'] = { transport: 'tcp', type: 'ipv4', direction: 'unknown' };
  } else base['dns'] = { question: { name: 'example.invalid', type: 'A' } };
  if (category !== 'process_creation') base['process'] = { pid: 4242 };
  return base;
}
