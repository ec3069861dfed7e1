import { Variant } from '@jellybrick/dbus-next';
import { DBusCallError, withBus } from './dbus.ts';

/**
 * Child process of the desktop notifier: started as root (so it can load its code wherever the
 * agent is installed), it drops to the user's uid and gid before touching the bus, because a
 * session bus accepts only its own user (EXTERNAL authentication is checked against the socket's
 * peer credentials, so root cannot claim another uid). Reads one JSON request on stdin, makes
 * one org.freedesktop.Notifications.Notify call, writes one JSON line on stdout.
 */

export interface NotifyRequest {
  uid: number;
  gid: number;
  address: string;
  appName: string;
  icon: string;
  summary: string;
  body: string;
  urgency: 0 | 1 | 2;
  timeoutMs: number;
}

export type NotifyReply = { ok: true; id: number } | { ok: false; errorName: string; message: string };

async function readStdin(max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of process.stdin) {
    const b = c as Buffer;
    n += b.length;
    if (n > max) throw new Error('request too large');
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseRequest(text: string): NotifyRequest {
  const r = JSON.parse(text) as Partial<NotifyRequest>;
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const str = (v: unknown) => typeof v === 'string';
  if (!int(r.uid) || !int(r.gid) || !str(r.address) || !str(r.appName) || !str(r.icon) || !str(r.summary) || !str(r.body) || !int(r.timeoutMs))
    throw new Error('malformed request');
  if (!(r.address as string).startsWith('unix:path=/')) throw new Error('only unix:path= addresses');
  return r as NotifyRequest;
}

/** Drop to the user for good (supplementary groups first, then gid, then uid) and check it took. */
function dropPrivileges(uid: number, gid: number): void {
  if (process.getuid?.() === 0) {
    process.setgroups?.([]);
    process.setgid?.(gid);
    process.setuid?.(uid);
  }
  if (process.getuid?.() !== uid || process.geteuid?.() !== uid || process.getgid?.() !== gid)
    throw new Error(`could not become uid ${uid} gid ${gid}`);
}

async function main(): Promise<NotifyReply> {
  let req: NotifyRequest;
  try {
    req = parseRequest(await readStdin(64 * 1024));
    dropPrivileges(req.uid, req.gid);
  } catch (err) {
    return { ok: false, errorName: 'setup', message: (err as Error).message };
  }
  try {
    const id = await withBus(req.address, req.timeoutMs, async (call) => {
      const [notificationId] = await call({
        destination: 'org.freedesktop.Notifications',
        path: '/org/freedesktop/Notifications',
        interface: 'org.freedesktop.Notifications',
        member: 'Notify',
        signature: 'susssasa{sv}i',
        // app_name, replaces_id, app_icon, summary, body, actions, hints, expire_timeout (-1: the server's default)
        body: [req.appName, 0, req.icon, req.summary, req.body, [], { urgency: new Variant('y', req.urgency) }, -1],
      });
      return Number(notificationId);
    });
    return { ok: true, id };
  } catch (err) {
    return err instanceof DBusCallError
      ? { ok: false, errorName: err.errorName, message: err.message }
      : { ok: false, errorName: 'error', message: (err as Error).message };
  }
}

const reply = await main();
// exit once written: a bus connection that lingers must not keep the child alive
process.stdout.write(`${JSON.stringify(reply)}\n`, () => process.exit(reply.ok ? 0 : 1));
