// A gate in a separate process for the "kill -9 the gate" test: it never answers, reports
// each held exec on stdout, and waits to be killed. With a third argument 'watch', the agent's
// close-write watch runs beside it on the same mount (started after the gate, as the agent does).
import { loadLinuxSensors } from '../index.ts';

const mount = process.argv[2];
if (!mount) throw new Error('usage: gate-child.ts MOUNT');
const r = loadLinuxSensors();
if (!r.available) throw new Error(r.reason);
r.sensors.startExecGate({
  mounts: [mount],
  markMode: 'mount',
  timeoutMs: 30000,
  onExec: (req) => process.stdout.write(`held ${req.pid} ${req.path}\n`),
});
if (process.argv[3] === 'watch') r.sensors.startCloseWriteWatch({ mounts: [mount], markMode: 'mount', onFiles: () => undefined });
process.stdout.write('ready\n');
setInterval(() => {}, 1000);
