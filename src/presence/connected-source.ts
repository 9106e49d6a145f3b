import { errorMessage, MaintenanceError } from '../engine/errors.ts';
import { ConnectedSourceError, type ConnectedSource } from './connected.ts';
import type { ConnectedSettings } from './connected-settings.ts';

/** A URL as it may be printed and audited: no password, and no value of a query parameter that may be secret. */
export function redactUrl(text: string): string {
  const url = new URL(text);
  if (url.password !== '') url.password = '****';
  for (const key of [...url.searchParams.keys()]) {
    if (/token|key|secret|pass|auth|sig/i.test(key)) url.searchParams.set(key, '****');
  }
  return url.toString();
}

/**
 * The configured source, opened on first use (a command may never need it),
 * its client code loaded only then: Socket.IO and Redis stay out of every
 * other command's start. Undefined when none is configured.
 */
export function connectedSourceOf(settings: ConnectedSettings): ConnectedSource | undefined {
  const timeoutMs = Math.round(settings.timeoutSeconds * 1000);
  const { url, token, redis } = settings;
  if (url !== undefined && token !== undefined) {
    return lazySource(redactUrl(url), async () => (await import('./connected/endpoint-source.ts')).endpointSource(url, { token, timeoutMs }));
  }
  if (redis !== undefined) {
    const options = { namespace: settings.namespace, key: settings.adapterKey, timeoutMs };
    return lazySource(redactUrl(redis), async () => (await import('./connected/redis-source.ts')).redisAdapterSource(redis, options));
  }
  return undefined;
}

function lazySource(description: string, open: () => Promise<ConnectedSource>): ConnectedSource {
  let opened: Promise<ConnectedSource> | undefined;
  const opening = () =>
    open().catch((error: unknown) => {
      if (error instanceof MaintenanceError) throw error;
      throw new ConnectedSourceError(`connected-set source ${description} cannot be reached: ${errorMessage(error)}`, { cause: error, unreachable: true });
    });
  return {
    description,
    fetch: async (signal) => (await (opened ??= opening())).fetch(signal),
    close: async () => {
      if (opened !== undefined) await (await opened).close();
    },
  };
}
