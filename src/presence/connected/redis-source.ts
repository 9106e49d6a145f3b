import { randomUUID } from 'node:crypto';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server, type Namespace } from 'socket.io';
import { Adapter } from 'socket.io-adapter';
import { UsageError } from '../../engine/errors.ts';
import { abortable, isTimeout } from '../../socketio/abortable.ts';
import { answerAsAsker, askIds, responderNamespace } from '../../socketio/ids-request.ts';
import { userIdText } from '../../socketio/user-id.ts';
import { ConnectedSourceError, type ConnectedSet, type ConnectedSource } from '../connected.ts';
import { redactUrl } from './redact.ts';

export interface RedisAdapterSourceOptions {
  /** The Socket.IO namespace whose sockets are counted (default `/`). */
  namespace?: string;
  /** The adapter's channel prefix, its `key` option (default `socket.io`). */
  key?: string;
  /** Where each socket's user id is in `socket.data`, a dotted path (default `userId`; e.g. `user.id`). */
  userIdField?: string;
  /** Joining, asking every server and leaving (default 10 s). */
  timeoutMs?: number;
  /** `auto` (default): ids when every server runs presenceResponder, else fetchSockets(); `fetchSockets`: always every socket. */
  ask?: 'auto' | 'fetchSockets';
}

/** No reconnection: a Redis that is down fails this fetch now, rather than queueing it. */
function redisClient(url: string, timeoutMs: number) {
  return createClient({ url, socket: { connectTimeout: timeoutMs, reconnectStrategy: false } });
}
type RedisClient = ReturnType<typeof redisClient>;

/**
 * The connected set of a deployment that uses `@socket.io/redis-adapter`, for
 * apps that cannot mount the endpoint. Each fetch joins the deployment as a
 * Socket.IO server without HTTP listener or sockets, asks, and leaves: it
 * stays no longer, since the servers wait for each member's answer to their
 * own cluster-wide requests. When every server runs `presenceResponder`, it
 * joins the responders' namespace only (the users' broadcasts never reach it,
 * and the users' servers do not count it) and asks for ids; otherwise it joins
 * the users' namespace and asks for every socket (`fetchSockets()`).
 */
export function redisAdapterSource(redisUri: string, options: RedisAdapterSourceOptions = {}): ConnectedSource {
  const { namespace = '/', key = 'socket.io', userIdField = 'userId', timeoutMs = 10_000, ask = 'auto' } = options;
  const userIdPath = userIdField.split('.');
  const description = `${redactUrl(redisUri)} (namespace ${namespace}, key ${key})`;
  const control = responderNamespace(namespace);
  checkUri(redisUri);
  /** The Redis connections of fetches under way, for close(). */
  const visits = new Set<RedisClient[]>();

  const refused = (reason: string, cause?: unknown) => new ConnectedSourceError(`${description}: ${reason}`, { cause });

  /** The adapter's own count: subscribers of a namespace's request channel. */
  const serversOn = async (publisher: RedisClient, name: string, signal: AbortSignal): Promise<number> => {
    const channel = `${key}-request#${name}#`;
    return Number((await abortable(publisher.pubSubNumSub(channel), signal))[channel] ?? 0);
  };

  /**
   * A headless Socket.IO server on the deployment's Redis, a member of the
   * namespace `joined` only (every other namespace stays in memory), counted
   * and asked like the others once this resolves.
   */
  const join = async ([publisher, subscriber]: RedisClient[], joined: string, signal: AbortSignal): Promise<Server> => {
    const onRedis = createAdapter(publisher!, subscriber!, { key, requestsTimeout: timeoutMs });
    // A constructor for Socket.IO (`new`), so a function, not an arrow.
    const adapter = function (nsp: Namespace) {
      return nsp.name === joined ? onRedis(nsp) : new Adapter(nsp);
    };
    const io = new Server({ adapter: adapter as unknown as typeof Adapter });
    io.of(joined);
    // The namespace's broadcasts are of no use to a reader: not copied to it while it stays.
    await abortable(subscriber!.pUnsubscribe(`${key}#${joined}#*`), signal);
    // The adapter subscribes without waiting: one more subscription on the same connection is
    // confirmed after those, so once it is, every server's requests and answers reach this one.
    const marker = `${key}-presence-maint#${randomUUID()}`;
    await abortable(subscriber!.subscribe(marker, () => undefined), signal);
    await abortable(subscriber!.unsubscribe(marker), signal);
    return io;
  };

  /** The ids request, or undefined when some server runs no responder. */
  const askIdsOf = async (clients: RedisClient[], signal: AbortSignal): Promise<ConnectedSet | undefined> => {
    const publisher = clients[0]!;
    const at = new Date();
    const servers = await serversOn(publisher, namespace, signal);
    if (servers === 0) {
      // Nobody to ask: a wrong key or namespace, or the whole deployment down. Unknown, not "everyone offline".
      throw refused('no Socket.IO server of this namespace and key is on this Redis');
    }
    // Fewer responders than servers: not worth joining.
    if ((await serversOn(publisher, control, signal)) < servers) return undefined;
    const io = await join(clients, control, signal);
    answerAsAsker(io.of(control), randomUUID());
    const outcome = await abortable(askIds(io.of(control), () => serversOn(publisher, namespace, signal), undefined), signal);
    if (outcome.kind === 'not-everywhere') return undefined;
    if (!outcome.complete) throw refused(`partial answer: the Socket.IO servers changed while they were asked (${outcome.servers} now)`);
    return { userIds: outcome.userIds, sockets: outcome.sockets, servers: outcome.servers, at, via: 'ids' };
  };

  const fetchAll = async (clients: RedisClient[], signal: AbortSignal): Promise<ConnectedSet> => {
    const nsp = (await join(clients, namespace, signal)).of(namespace);
    const at = new Date();
    // Less this headless server, which has no socket.
    const before = (await abortable(nsp.adapter.serverCount(), signal)) - 1;
    if (before === 0) throw refused('no Socket.IO server of this namespace and key is on this Redis');
    const sockets = await abortable(nsp.timeout(timeoutMs).fetchSockets(), signal);
    const after = (await abortable(nsp.adapter.serverCount(), signal)) - 1;
    if (after !== before) throw refused(`partial answer: Socket.IO servers went from ${before} to ${after} while they were asked`);
    const userIds = new Set<string>();
    for (const socket of sockets) {
      const id = userIdText(userIdPath.reduce<unknown>((value, name) => (value as Record<string, unknown> | undefined)?.[name], socket.data));
      if (id !== undefined) userIds.add(id);
    }
    return { userIds, sockets: sockets.length, servers: after, at, via: 'fetchSockets' };
  };

  /** One visit to the deployment: connect, `work`, leave, whatever happens. */
  const visit = async <T>(signal: AbortSignal, work: (clients: RedisClient[], signal: AbortSignal) => Promise<T>): Promise<T> => {
    const publisher = redisClient(redisUri, timeoutMs);
    const clients = [publisher, publisher.duplicate()];
    for (const client of clients) client.on('error', () => undefined); // surfaced by the command that fails
    visits.add(clients);
    try {
      try {
        await abortable(Promise.all(clients.map((client) => client.connect())), signal);
      } catch (error) {
        const reason = isTimeout(error) ? `no answer within ${timeoutMs} ms` : reasonOf(error);
        throw new ConnectedSourceError(`${description}: Redis unreachable (${reason})`, { cause: error, unreachable: true });
      }
      return await work(clients, signal);
    } finally {
      await leave(clients);
    }
  };

  return {
    description,
    async fetch(signal?: AbortSignal): Promise<ConnectedSet> {
      const deadline = AbortSignal.timeout(timeoutMs);
      const aborts = signal ? AbortSignal.any([deadline, signal]) : deadline;
      try {
        return (ask === 'auto' ? await visit(aborts, askIdsOf) : undefined) ?? (await visit(aborts, fetchAll));
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (error instanceof ConnectedSourceError) throw error;
        if (isTimeout(error)) throw refused(`no complete answer within ${timeoutMs} ms (a Socket.IO server did not answer)`, error);
        throw refused(`the deployment could not be asked (${reasonOf(error)})`, error);
      }
    },
    async close(): Promise<void> {
      await Promise.all([...visits].map(leave));
    },
  };

  /**
   * Closing the connections is leaving: Redis drops their subscriptions, so the
   * deployment stops counting this server. The headless server holds nothing
   * else: no engine, no socket; at most the adapter's timer of a request that
   * was abandoned, which ends by itself within the timeout.
   */
  async function leave(clients: RedisClient[]): Promise<void> {
    visits.delete(clients);
    await Promise.all(
      clients.map(async (client) => {
        if (!client.isOpen) return;
        // Gracefully, but never waiting on a stalled Redis.
        await abortable(client.close(), AbortSignal.timeout(LEAVE_MS)).catch(() => client.destroy());
      }),
    );
  }
}

const LEAVE_MS = 1000;

function checkUri(redisUri: string): void {
  let protocol: string;
  try {
    protocol = new URL(redisUri).protocol;
  } catch {
    // Never quote the URI: it may carry a password.
    throw new UsageError('malformed Redis URI: it must be redis://[:password@]host[:port][/db] or rediss://');
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new UsageError(`the Redis URI must start with redis:// or rediss://, not ${protocol}//`);
  }
}

/** node-redis' reason without its stack: ECONNREFUSED, WRONGPASS, NOAUTH. */
function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!.slice(0, 200);
}
