import type { Notifier } from '@yamori/db';

/**
 * A wake-up listener made *before* the database is read, so a publish that lands between the
 * read and the wait is not lost: `wait` returns at once if the topic fired since creation.
 */
export function listenFor(notifier: Notifier, topic: string): { wait(ms: number, signal?: AbortSignal): Promise<void>; close(): void } {
  let fired = false;
  let wake: (() => void) | undefined;
  const off = notifier.subscribe((t) => {
    if (t !== topic) return;
    fired = true;
    wake?.();
  });
  return {
    wait(ms, signal) {
      if (fired || ms <= 0 || signal?.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        wake = done;
        signal?.addEventListener('abort', done);
      });
    },
    close: off,
  };
}

/**
 * An AbortSignal that fires when the client goes away (long-polls stop waiting for nobody). Give it
 * the *response* (`reply.raw`): a request's own 'close' fires as soon as its body has been read,
 * which ended every long-poll at once and made workers and followers spin.
 */
export function clientGone(raw: { once(event: 'close', fn: () => void): unknown }): AbortSignal {
  const ac = new AbortController();
  raw.once('close', () => ac.abort());
  return ac.signal;
}
