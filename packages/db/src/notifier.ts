import { EventEmitter } from 'node:events';
import pg from 'pg';

/**
 * Cross-instance wake-ups. With SQLite there is one server process, so an in-process emitter is
 * enough; with PostgreSQL every instance LISTENs on one channel and NOTIFY reaches them all.
 */
export interface Notifier {
  publish(topic: string, payload?: string): Promise<void>;
  subscribe(handler: (topic: string, payload: string) => void): () => void;
  close(): Promise<void>;
}

export function createLocalNotifier(): Notifier {
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  return {
    publish: async (topic, payload = '') => {
      bus.emit('n', topic, payload);
    },
    subscribe: (handler) => {
      bus.on('n', handler);
      return () => bus.off('n', handler);
    },
    close: async () => {
      bus.removeAllListeners();
    },
  };
}

const CHANNEL = 'yamori_wakeup';

export async function createPgNotifier(url: string, pool: pg.Pool): Promise<Notifier> {
  const local = createLocalNotifier();
  let closed = false;
  let client: pg.Client | undefined;
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    c.on('notification', (msg) => {
      const text = msg.payload ?? '';
      const sep = text.indexOf('\n');
      void local.publish(sep < 0 ? text : text.slice(0, sep), sep < 0 ? '' : text.slice(sep + 1));
    });
    c.on('error', () => {
      // The listening connection died (database restart): reconnect; long-polls fall back to their timeout.
      if (!closed) setTimeout(() => void connect().catch(() => undefined), 1000).unref();
    });
    await c.connect();
    await c.query(`LISTEN ${CHANNEL}`);
    client = c;
  };
  await connect();
  return {
    publish: async (topic, payload = '') => {
      await pool.query('SELECT pg_notify($1, $2)', [CHANNEL, `${topic}\n${payload}`]);
    },
    subscribe: (handler) => local.subscribe(handler),
    close: async () => {
      closed = true;
      await local.close();
      await client?.end().catch(() => undefined);
    },
  };
}
