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
  /** The topics that woke this waiter (a check-in woken only by verdicts need not look at commands). */
  readonly firedTopics: ReadonlySet<string>;
  wait(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  dispose(): void;
}

export const topics = {
  policy: (tenantId: string) => `policy:${tenantId}`,
  agent: (agentId: string) => `agent:${agentId}`,
  verdicts: (tenantId: string) => `verdicts:${tenantId}`,
  yara: (tenantId: string) => `yara:${tenantId}`,
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
      const firedTopics = new Set<string>();
      let resolve: (() => void) | undefined;
      const fires = list.map((t) => () => {
        fired = true;
        firedTopics.add(t);
        resolve?.();
      });
      list.forEach((t, i) => {
        let set = byTopic.get(t);
        if (!set) byTopic.set(t, (set = new Set()));
        set.add(fires[i] ?? (() => undefined));
      });
      count++;
      let disposed = false;
      const dispose = () => {
        if (disposed) return;
        disposed = true;
        count--;
        list.forEach((t, i) => {
          const set = byTopic.get(t);
          set?.delete(fires[i] ?? (() => undefined));
          if (set?.size === 0) byTopic.delete(t);
        });
      };
      return {
        get fired() {
          return fired;
        },
        firedTopics,
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
