import { randomBytes } from 'node:crypto';
import { createAdapter } from '@socket.io/redis-adapter';
import { ObjectId } from 'mongodb';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/engine/errors.ts';
import { ConnectedSourceError, type ConnectedSet } from '../../src/presence/connected.ts';
import { endpointSource } from '../../src/presence/connected/endpoint-source.ts';
import { redisAdapterSource } from '../../src/presence/connected/redis-source.ts';
import { useTestDatabase } from '../support/database.ts';
import { AdapterRequest, watchRequest } from '../support/adapter-requests.ts';
import { until } from '../support/until.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { connectUsers, offlineUsers, startPlatform, type PlatformClient, type PlatformNode } from '../support/socketio-platform.ts';

// Two platform processes on one real Redis (@socket.io/redis-adapter). Users' _id are ObjectIds.
const database = useTestDatabase('socketio_cluster');
const token = randomBytes(24).toString('base64url');
const users = offlineUsers(3);
const [onA, onB, onBoth] = users.map((user) => user._id.toHexString()) as [string, string, string];
// Short, so that a stalled node costs each test a couple of seconds.
const ENDPOINT_TIMEOUT_MS = 2000;
let redis: RedisServer;
let a: PlatformNode;
let b: PlatformNode;
let redisClient: ReturnType<typeof createClient>;
const clients: PlatformClient[] = [];

/** Socket.IO servers of the default namespace subscribed on Redis, as the adapter counts them. */
const serversOnRedis = async () => ((await redisClient.pubSubNumSub('socket.io-request#/#'))['socket.io-request#/#'] ?? 0) as number;
const watchFetchRequest = () => watchRequest(redisClient, 'socket.io-request#/#', AdapterRequest.remoteFetch);
const sorted = (set: ConnectedSet) => ({ ...set, userIds: [...set.userIds].sort() });
const refusalOf = (work: Promise<unknown>) => work.then(() => undefined, (error: unknown) => error as ConnectedSourceError);

beforeAll(async () => {
  redis = await startRedis();
  redisClient = createClient({ url: redis.uri });
  await redisClient.connect();
  await database.db().collection('users').insertMany(users);
  const node = () => startPlatform({ mongoUri: database.uri(), token, redisUri: redis.uri, timeoutMs: ENDPOINT_TIMEOUT_MS });
  [a, b] = await Promise.all([node(), node()]);
  await until('two servers on Redis', async () => (await serversOnRedis()) === 2, { withinMs: 10_000, everyMs: 25 });
  clients.push(...(await connectUsers(a, [onA, onBoth])), ...(await connectUsers(b, [onB, onBoth, undefined])));
});
afterEach(async () => {
  // A test that stalled a node resumes it, whatever happened.
  b?.signal('SIGCONT');
});
afterAll(async () => {
  for (const client of clients) client.socket.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redisClient?.close();
  await redis?.stop();
});

describe('a two-node Socket.IO cluster on Redis', () => {
  it('the endpoint of one node and the Redis source both see the sockets of both nodes', async () => {
    const expected = { userIds: [onA, onB, onBoth].sort(), sockets: 5, servers: 2, at: expect.any(Date), via: 'fetchSockets' };
    const fromEndpoint = endpointSource(a.endpointUrl, { token });
    expect(sorted(await fromEndpoint.fetch())).toEqual(expected);

    const fromRedis = redisAdapterSource(redis.uri, { timeoutMs: 3000 });
    expect(fromRedis.description).toBe(`${redis.uri} (namespace /, key socket.io)`);
    expect(sorted(await fromRedis.fetch())).toEqual(expected);
    await fromRedis.close();
    // It left: the deployment counts its own two servers again.
    expect(await serversOnRedis()).toBe(2);
  });

  it('a stalled node (SIGSTOP) trips the timeout: the endpoint answers 503, both sources refuse (exit 4); resumed, they answer again', async () => {
    b.signal('SIGSTOP');
    const response = await fetch(a.endpointUrl, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ complete: false, error: `no complete answer within ${ENDPOINT_TIMEOUT_MS} ms` });

    const fromEndpoint = await refusalOf(endpointSource(a.endpointUrl, { token }).fetch());
    expect(fromEndpoint).toBeInstanceOf(ConnectedSourceError);
    expect(fromEndpoint!.exitCode).toBe(ExitCode.refused);
    expect(fromEndpoint!.message).toContain('unknown');

    const started = Date.now();
    const fromRedis = await refusalOf(redisAdapterSource(redis.uri, { timeoutMs: 1000 }).fetch());
    expect(fromRedis).toBeInstanceOf(ConnectedSourceError);
    expect(fromRedis!.exitCode).toBe(ExitCode.refused);
    expect(fromRedis!.message).toMatch(/no complete answer within 1000 ms/);
    expect(Date.now() - started).toBeLessThan(3000);

    b.signal('SIGCONT');
    expect((await endpointSource(a.endpointUrl, { token }).fetch()).servers).toBe(2);
    expect((await redisAdapterSource(redis.uri, { timeoutMs: 3000 }).fetch()).userIds.size).toBe(3);
  });

  it('a server joining while the deployment is asked makes the answer partial: both sources refuse it (exit 4)', async () => {
    const fromEndpoint = await joinedDuring((signal) => endpointSource(a.endpointUrl, { token }).fetch(signal));
    expect(fromEndpoint).toBeInstanceOf(ConnectedSourceError);
    expect(fromEndpoint!.exitCode).toBe(ExitCode.refused);
    expect(fromEndpoint!.message).toMatch(/partial answer/);

    const fromRedis = await joinedDuring((signal) => redisAdapterSource(redis.uri, { timeoutMs: 5000 }).fetch(signal));
    expect(fromRedis).toBeInstanceOf(ConnectedSourceError);
    expect(fromRedis!.exitCode).toBe(ExitCode.refused);
    expect(fromRedis!.message).toMatch(/partial answer: Socket.IO servers went from 2 to 3/);
  });

  it('a node killed mid-answer makes that answer unknown (exit 4); the next is complete without its sockets, and its users stay online in the database (ghosts)', async () => {
    // Stalled first, so that the kill lands after the request went out and before its answer.
    b.signal('SIGSTOP');
    const request = await watchFetchRequest();
    const answer = refusalOf(endpointSource(a.endpointUrl, { token }).fetch());
    await request.sent;
    b.signal('SIGKILL');
    await b.exited;
    const midAnswer = await answer;
    expect(midAnswer).toBeInstanceOf(ConnectedSourceError);
    expect(midAnswer!.exitCode).toBe(ExitCode.refused);
    await until('one server on Redis', async () => (await serversOnRedis()) === 1, { withinMs: 10_000, everyMs: 25 });

    const expected = { userIds: [onA, onBoth].sort(), sockets: 2, servers: 1, at: expect.any(Date), via: 'fetchSockets' };
    expect(sorted(await endpointSource(a.endpointUrl, { token }).fetch())).toEqual(expected);
    expect(sorted(await redisAdapterSource(redis.uri, { timeoutMs: 3000 }).fetch())).toEqual(expected);
    const ghost = await database.db().collection('users').findOne({ _id: new ObjectId(onB) });
    expect(ghost).toMatchObject({ isOnline: true });
  });
});

/**
 * Stalls node b so that `fetching` waits for its answer, makes a third server
 * join meanwhile, then resumes b: the fetch completes with one server more
 * than it started with. Resolves with what the fetch threw.
 */
async function joinedDuring(fetching: (signal: AbortSignal) => Promise<ConnectedSet>): Promise<ConnectedSourceError | undefined> {
  const servers = await serversOnRedis();
  b.signal('SIGSTOP');
  const request = await watchFetchRequest();
  const outcome = refusalOf(fetching(AbortSignal.timeout(10_000)));
  // Once out, the request goes to the servers counted before this one joins.
  await request.sent;
  const publisher = createClient({ url: redis.uri });
  const subscriber = publisher.duplicate();
  await Promise.all([publisher.connect(), subscriber.connect()]);
  const before = await serversOnRedis();
  const joining = new Server({ adapter: createAdapter(publisher, subscriber) });
  await until('the third server subscribed', async () => (await serversOnRedis()) > before, { withinMs: 10_000, everyMs: 25 });
  b.signal('SIGCONT');
  try {
    return await outcome;
  } finally {
    joining.of('/').adapter.close();
    await Promise.all([publisher.close(), subscriber.close()]);
    await until('the third server gone', async () => (await serversOnRedis()) === servers, { withinMs: 10_000, everyMs: 25 });
  }
}
