import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NotifyReply, NotifyRequest } from './notify-child.ts';
import { sanitizeForTerminal } from './terminal.ts';

/**
 * A desktop notification (org.freedesktop.Notifications.Notify) on the user's session bus,
 * unix:path=/run/user/UID/bus. The bus refuses root, so the call is made by a short-lived child
 * (notify-child.ts) that drops to the user first; the agent never changes its own credentials (its
 * other threads answer the kernel's exec permission events and read /proc as root).
 */

export type DesktopResult = 'sent' | 'no_bus' | 'no_service' | 'busy' | 'failed';

export interface DesktopNotifier {
  notify(uid: number, text: { title: string; body: string }, program: string): Promise<{ result: DesktopResult; detail?: string }>;
}

export interface DesktopNotifierOptions {
  /** The user's runtime directory (default /run/user/UID); its owner's gid is the one the child takes. */
  runtimeDir?: (uid: number) => string;
  timeoutMs?: number;
  appName?: string;
  icon?: string;
  urgency?: 0 | 1 | 2;
  /** Node executable for the child (default: this one). */
  node?: string;
  /**
   * Children at once (default 2) and calls waiting for one (default 16; more are refused as
   * 'busy'): a child costs about 0.2 s of CPU and 75 MB for its short life.
   */
  maxConcurrent?: number;
  maxQueued?: number;
}

/** Body text for servers that understand the spec's markup subset: &, < and > must not be read as tags. */
export const escapeMarkup = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

export function notificationBody(body: string, program: string): string {
  const clean = (s: string) => escapeMarkup(sanitizeForTerminal(s, 1024));
  return `${body.split('\n').map(clean).join('\n')}\n\n${clean(program)}`;
}

const CHILD = fileURLToPath(new URL('./notify-child.ts', import.meta.url));

const NO_SERVICE = new Set(['org.freedesktop.DBus.Error.ServiceUnknown', 'org.freedesktop.DBus.Error.NameHasNoOwner']);

export function createDesktopNotifier(opts: DesktopNotifierOptions = {}): DesktopNotifier {
  const runtimeDir = opts.runtimeDir ?? ((uid: number) => `/run/user/${uid}`);
  const timeoutMs = opts.timeoutMs ?? 5000;
  const maxConcurrent = opts.maxConcurrent ?? 2;
  const maxQueued = opts.maxQueued ?? 16;
  let running = 0;
  const waiting: (() => void)[] = [];
  const slot = async (): Promise<boolean> => {
    if (running < maxConcurrent) {
      running++;
      return true;
    }
    if (waiting.length >= maxQueued) return false;
    await new Promise<void>((resolve) => waiting.push(resolve));
    return true; // the slot is handed over by release()
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  return {
    async notify(uid, text, program) {
      const dir = runtimeDir(uid);
      let gid: number;
      try {
        const d = statSync(dir);
        const s = statSync(`${dir}/bus`);
        // the runtime directory and its bus belong to the user, or this is not their bus
        if (!d.isDirectory() || d.uid !== uid || !s.isSocket() || s.uid !== uid) return { result: 'no_bus', detail: `${dir}/bus is not ${uid}'s bus` };
        gid = d.gid;
      } catch {
        return { result: 'no_bus', detail: `no session bus at ${dir}/bus` };
      }
      const req: NotifyRequest = {
        uid,
        gid,
        address: `unix:path=${dir}/bus`,
        appName: opts.appName ?? 'Yamori',
        icon: opts.icon ?? 'security-high',
        summary: sanitizeForTerminal(text.title, 200),
        body: notificationBody(text.body, program),
        urgency: opts.urgency ?? 2,
        timeoutMs,
      };
      if (!(await slot())) return { result: 'busy', detail: `${maxQueued} notifications already waiting` };
      let reply: NotifyReply;
      try {
        reply = await runChild(opts.node ?? process.execPath, req, timeoutMs + 2000);
      } finally {
        release();
      }
      if (reply.ok) return { result: 'sent', detail: `notification ${reply.id}` };
      if (NO_SERVICE.has(reply.errorName)) return { result: 'no_service', detail: reply.message };
      return { result: 'failed', detail: `${reply.errorName}: ${reply.message}` };
    },
  };
}

function runChild(node: string, req: NotifyRequest, killAfterMs: number): Promise<NotifyReply> {
  return new Promise((resolve) => {
    let out = '';
    let err = '';
    let done = false;
    const finish = (r: NotifyReply) => {
      if (done) return;
      done = true;
      resolve(r);
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(node, ['--disable-warning=ExperimentalWarning', CHILD], {
        cwd: '/',
        env: { PATH: '/usr/bin:/bin' },
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: killAfterMs,
        killSignal: 'SIGKILL',
      });
    } catch (e) {
      finish({ ok: false, errorName: 'spawn', message: (e as Error).message });
      return;
    }
    child.stdout?.on('data', (c: Buffer) => {
      if (out.length < 4096) out += c.toString('utf8');
    });
    child.stderr?.on('data', (c: Buffer) => {
      if (err.length < 1024) err += c.toString('utf8');
    });
    child.on('error', (e) => finish({ ok: false, errorName: 'spawn', message: e.message }));
    child.on('close', (code, signal) => {
      try {
        const r = JSON.parse(out.split('\n')[0] ?? '') as NotifyReply;
        if (typeof r === 'object' && r !== null && typeof r.ok === 'boolean') return finish(r);
      } catch {
        // fall through
      }
      finish({ ok: false, errorName: signal ? 'timeout' : 'child', message: `notify child exited ${signal ?? code}: ${err.trim().slice(0, 500)}` });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(JSON.stringify(req));
  });
}
