/**
 * A user's login sessions from systemd-logind (org.freedesktop.login1 on the system bus, which
 * the agent reaches as root): which of them are graphical (a desktop to notify) and which
 * terminals they sit on. Where logind is not there (containers, non-systemd hosts) the answer is
 * "unknown", and the popup tries the user's bus and terminals directly.
 */

export interface UserSession {
  id: string;
  /** x11, wayland, mir, tty, unspecified. */
  type: string;
  /** tty1, pts/3 … or ''. */
  tty: string;
  active: boolean;
  remote: boolean;
}

export interface SessionSource {
  /** The uid's sessions; undefined when they cannot be known. */
  sessions(uid: number): Promise<UserSession[] | undefined>;
}

export const isGraphical = (s: UserSession): boolean => s.type === 'x11' || s.type === 'wayland' || s.type === 'mir';

export const SYSTEM_BUS = 'unix:path=/run/dbus/system_bus_socket';

const unwrap = (v: unknown): unknown => (v !== null && typeof v === 'object' && 'value' in v ? (v as { value: unknown }).value : v);
const text = (v: unknown): string => {
  const u = unwrap(v);
  return typeof u === 'string' ? u : '';
};

export function createLogindSessions(opts: { address?: string; timeoutMs?: number; maxSessions?: number } = {}): SessionSource {
  const address = opts.address ?? SYSTEM_BUS;
  const timeoutMs = opts.timeoutMs ?? 2000;
  const maxSessions = opts.maxSessions ?? 16;
  return {
    async sessions(uid) {
      try {
        // the D-Bus client (dbus-next and its XML parser, ~1.5 MB of heap) loads at the first popup, not with the agent
        const { withBus } = await import('./dbus.ts');
        return await withBus(address, timeoutMs, async (call) => {
          const [list] = await call({
            destination: 'org.freedesktop.login1',
            path: '/org/freedesktop/login1',
            interface: 'org.freedesktop.login1.Manager',
            member: 'ListSessions',
          });
          // a(susso): id, uid, user name, seat, object path
          const mine = (Array.isArray(list) ? (list as unknown[][]) : [])
            .filter((s) => Number(s[1]) === uid && typeof s[4] === 'string')
            .slice(0, maxSessions);
          const out: UserSession[] = [];
          for (const s of mine) {
            const [props] = await call({
              destination: 'org.freedesktop.login1',
              path: s[4] as string,
              interface: 'org.freedesktop.DBus.Properties',
              member: 'GetAll',
              signature: 's',
              body: ['org.freedesktop.login1.Session'],
            });
            const p = (props ?? {}) as Record<string, unknown>;
            const state = text(p['State']);
            if (state === 'closing') continue;
            out.push({
              id: String(s[0]),
              type: text(p['Type']),
              tty: text(p['TTY']),
              active: unwrap(p['Active']) === true,
              remote: unwrap(p['Remote']) === true,
            });
          }
          return out;
        });
      } catch {
        return undefined;
      }
    },
  };
}
