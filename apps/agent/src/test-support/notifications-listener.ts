import { Message, sessionBus, type Variant } from '@jellybrick/dbus-next';

/**
 * Test fixture: a notification server for a private session bus, on the same D-Bus library as the
 * notifier. Run as root with
 * `UID GID ADDRESS`: drops to UID/GID (a session bus accepts only its owner), owns
 * org.freedesktop.Notifications, prints `ready`, then one JSON line per Notify call it answers.
 * Ends when its stdin closes.
 */

const [uid, gid, address] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] ?? ''];
if (process.getuid?.() === 0) {
  process.setgroups?.([]);
  process.setgid?.(gid);
  process.setuid?.(uid);
}
const bus = sessionBus({ busAddress: address, authMethods: ['EXTERNAL'] });
(bus as unknown as NodeJS.EventEmitter).on('error', (err: Error) => {
  process.stderr.write(`listener bus error: ${err.message}\n`);
  process.exit(2);
});
let next = 1;
bus.addMethodHandler((msg: Message) => {
  if (msg.interface !== 'org.freedesktop.Notifications') return false;
  if (msg.member === 'GetCapabilities') {
    bus.send(Message.newMethodReturn(msg, 'as', [['body']]));
    return true;
  }
  if (msg.member !== 'Notify') return false;
  const [appName, replacesId, icon, summary, body, actions, hints, expire] = msg.body as [string, number, string, string, string, string[], Record<string, Variant>, number];
  const id = next++;
  process.stdout.write(
    `${JSON.stringify({
      id,
      appName,
      replacesId,
      icon,
      summary,
      body,
      actions,
      hints: Object.fromEntries(Object.entries(hints).map(([k, v]) => [k, v.value])),
      expire,
      sender: msg.sender,
    })}\n`,
  );
  bus.send(Message.newMethodReturn(msg, 'u', [id]));
  return true;
});
await bus.requestName('org.freedesktop.Notifications', 4 /* DO_NOT_QUEUE */);
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('end', () => {
  bus.disconnect();
  process.exit(0);
});
