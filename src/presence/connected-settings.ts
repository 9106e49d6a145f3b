import { z } from 'zod';
import { BETWEEN_PARAMS } from '../engine/task.ts';

function hasProtocol(text: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

/** A token may also ride in the URL's password (`https://:TOKEN@host/path`); it is never sent in the URL. */
function hasPassword(text: string): boolean {
  try {
    return new URL(text).password !== '';
  } catch {
    return false;
  }
}

/** Seconds from text (a flag, an env var) or JSON. */
const timeoutSeconds = z.preprocess(
  (value) => (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value),
  z.number({ error: 'must be a number of seconds' }).min(0.1, 'must be at least 0.1 s').max(300, 'must be at most 300 s'),
);

/**
 * Where the connected set comes from: the app's endpoint (with its token) or
 * the deployment's Redis adapter. Secrets live here, never in task parameters.
 */
export const connectedSettingsSchema = z
  .object({
    url: z
      .string({ error: 'must be a URL' })
      .refine((text) => hasProtocol(text, ['http:', 'https:']), 'must be an http:// or https:// URL')
      .optional(),
    token: z.string({ error: 'must be text' }).min(1, 'must not be empty').optional(),
    redis: z
      .string({ error: 'must be a URI' })
      .refine((text) => hasProtocol(text, ['redis:', 'rediss:']), 'must be a redis:// or rediss:// URI')
      .optional(),
    namespace: z.string({ error: 'must be text' }).startsWith('/', 'must start with "/"').default('/'),
    adapterKey: z.string({ error: 'must be text' }).min(1, 'must not be empty').default('socket.io'),
    /** Where the Redis source finds each socket's user id in `socket.data` (a dotted path). */
    userIdField: z.string({ error: 'must be text' }).regex(/^[^.$]+(\.[^.$]+)*$/, 'must be a field path like userId or user.id').default('userId'),
    timeoutSeconds: timeoutSeconds.default(5),
  })
  .superRefine((settings, context) => {
    const broken = (path: string[], message: string) => context.addIssue({ code: 'custom', path, message, params: BETWEEN_PARAMS });
    if (settings.url !== undefined && settings.redis !== undefined) {
      broken([], 'connectedUrl and connectedRedis are both set: choose the endpoint or the Redis adapter');
    }
    if (settings.url !== undefined && settings.token === undefined && !hasPassword(settings.url)) {
      broken(['url'], 'needs connectedToken: the endpoint refuses a request without its token ($PRESENCE_CONNECTED_TOKEN)');
    }
  });

export type ConnectedSettings = z.output<typeof connectedSettingsSchema>;

/** Whether a source is configured at all: without one, status says how to configure it. */
export function hasConnectedSource(settings: ConnectedSettings): boolean {
  return settings.url !== undefined || settings.redis !== undefined;
}
