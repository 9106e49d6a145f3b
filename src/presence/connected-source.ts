import type { ConnectedSource } from './connected.ts';
import type { ConnectedSettings } from './connected-settings.ts';
import { redactUrl } from './connected/redact.ts';

/**
 * The configured source, or undefined. Its client code (Socket.IO, Redis) is
 * loaded on first use only: it stays out of every command that never asks.
 */
export function connectedSourceOf(settings: ConnectedSettings): ConnectedSource | undefined {
  const timeoutMs = Math.round(settings.timeoutSeconds * 1000);
  const { url, token, redis } = settings;
  if (url !== undefined) {
    return lazySource(redactUrl(url), async () => (await import('./connected/endpoint-source.ts')).endpointSource(url, { token, timeoutMs }));
  }
  if (redis !== undefined) {
    const options = { namespace: settings.namespace, key: settings.adapterKey, userIdField: settings.userIdField, timeoutMs };
    return lazySource(redactUrl(redis), async () => (await import('./connected/redis-source.ts')).redisAdapterSource(redis, options));
  }
  return undefined;
}

function lazySource(description: string, load: () => Promise<ConnectedSource>): ConnectedSource {
  let loaded: Promise<ConnectedSource> | undefined;
  return {
    description,
    fetch: async (signal) => (await (loaded ??= load())).fetch(signal),
    close: async () => {
      if (loaded !== undefined) await (await loaded).close();
    },
  };
}
