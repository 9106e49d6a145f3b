import type { createClient } from 'redis';

/** @socket.io/redis-adapter's request types, as they travel on its request channels. */
export const AdapterRequest = { remoteFetch: 5, serverSideEmit: 6 } as const;

/**
 * Watches a namespace's request channel (e.g. `socket.io-request#/#`) for the next request of `type`; `sent`
 * resolves once one went out. A pattern subscription, because adapters count channel subscribers as servers.
 */
export async function watchRequest(redis: ReturnType<typeof createClient>, channel: string, type: number): Promise<{ sent: Promise<void> }> {
  const watcher = redis.duplicate();
  await watcher.connect();
  let seen!: () => void;
  const sent = new Promise<void>((resolve) => (seen = resolve));
  await watcher.pSubscribe(channel, (message) => {
    if ((JSON.parse(message) as { type?: number }).type === type) seen();
  });
  return { sent: sent.finally(() => watcher.close()) };
}
