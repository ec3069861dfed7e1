import type { Notifier } from '@yamori/db';

/**
 * Long-poll waiters keyed by topic. One notifier subscription per process fans out to every
 * waiter, so thousands of idle agents cost a map entry each, not a database connection.
 */
export interface WakeupHub {
  /** Registers interest before the caller checks for news, so nothing published in between is missed. */
  listen(topics: readonly string[]): Waiter;
  publish(topic: string): Promise<void>;
  readonly waiting: number;
  close(): void;
}

export interface Waiter {
  readonly fired: boolean;
  wait(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  dispose(): void;
}

export const topics = {
  policy: (tenantId: string) => `policy:${tenantId}`,
  agent: (agentId: string) => `agent:${agentId}`,
  verdicts: (tenantId: string) => `verdicts:${tenantId}`,
  sharedVerdicts: 'verdicts:*',
};

export function createWakeupHub(notifier: Notifier): WakeupHub {
  const byTopic = new Map<string, Set<() => void>>();
  let count = 0;
  const unsubscribe = notifier.subscribe((topic) => {
    const set = byTopic.get(topic);
    if (set) for (const fire of [...set]) fire();
  });
  return {
    get waiting() {
      return count;
    },
    publish: (topic) => notifier.publish(topic),
    close: unsubscribe,
    listen(list) {
      let fired = false;
      let resolve: (() => void) | undefined;
      const fire = () => {
        fired = true;
        resolve?.();
      };
      for (const t of list) {
        let set = byTopic.get(t);
        if (!set) byTopic.set(t, (set = new Set()));
        set.add(fire);
      }
      count++;
      let disposed = false;
      const dispose = () => {
        if (disposed) return;
        disposed = true;
        count--;
        for (const t of list) {
          const set = byTopic.get(t);
          set?.delete(fire);
          if (set?.size === 0) byTopic.delete(t);
        }
      };
      return {
        get fired() {
          return fired;
        },
        dispose,
        wait(timeoutMs, signal) {
          if (fired || signal?.aborted) return Promise.resolve();
          return new Promise<void>((res) => {
            const timer = setTimeout(done, timeoutMs);
            function done() {
              clearTimeout(timer);
              signal?.removeEventListener('abort', done);
              resolve = undefined;
              res();
            }
            resolve = done;
            signal?.addEventListener('abort', done, { once: true });
          });
        },
      };
    },
  };
}
