import { Message, sessionBus, type MessageBus } from '@jellybrick/dbus-next';

/**
 * The few D-Bus calls the popup needs, over @jellybrick/dbus-next (pure JavaScript). Messages are
 * built by hand (no introspection): nothing of the peer's XML is parsed, and a call costs one
 * round trip. Every step is bounded by a timeout, since a bus that accepts the connection and
 * then says nothing must not keep a popup (or a child process) waiting forever.
 */

export interface DBusCall {
  destination: string;
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: unknown[];
}

export class DBusCallError extends Error {
  /** The D-Bus error name (org.freedesktop.DBus.Error.ServiceUnknown …), or 'timeout' / 'connection'. */
  readonly errorName: string;
  constructor(errorName: string, message: string) {
    super(message);
    this.name = 'DBusCallError';
    this.errorName = errorName;
  }
}

/** Connect to `address` (EXTERNAL authentication as this process's uid), make the calls in order, disconnect. */
export async function withBus<T>(address: string, timeoutMs: number, work: (call: (c: DBusCall) => Promise<unknown[]>) => Promise<T>): Promise<T> {
  let bus: MessageBus | undefined;
  let timer: NodeJS.Timeout | undefined;
  let fail: (e: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  try {
    timer = setTimeout(() => fail(new DBusCallError('timeout', `no answer on ${address} within ${timeoutMs} ms`)), timeoutMs);
    bus = sessionBus({ busAddress: address, authMethods: ['EXTERNAL'] });
    // 'error' is emitted, though the library's event map does not list it
    (bus as unknown as NodeJS.EventEmitter).on('error', (err: unknown) => fail(new DBusCallError('connection', `${address}: ${(err as Error).message ?? String(err)}`)));
    const b = bus;
    const call = async (c: DBusCall): Promise<unknown[]> => {
      const reply = await Promise.race([
        b.call(new Message(c)).catch((err: unknown) => {
          const e = err as { type?: string; text?: string; message?: string };
          throw new DBusCallError(e.type ?? 'error', e.text ?? e.message ?? String(err));
        }),
        failed,
      ]);
      return reply?.body ?? [];
    };
    return await Promise.race([work(call), failed]);
  } finally {
    if (timer) clearTimeout(timer);
    try {
      bus?.disconnect();
    } catch {
      // already gone
    }
  }
}
