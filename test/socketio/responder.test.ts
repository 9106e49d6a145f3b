import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { ExitCode } from '../../src/engine/errors.ts';
import { ConnectedSourceError, type ConnectedSet } from '../../src/presence/connected.ts';
import { endpointSource } from '../../src/presence/connected/endpoint-source.ts';
import { redisAdapterSource } from '../../src/presence/connected/redis-source.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { connectUsers, offlineUsers, startPlatform, type PlatformClient, type PlatformNode } from '../support/socketio-platform.ts';
import { AdapterRequest, watchRequest } from '../support/adapter-requests.ts';
import { until } from '../support/until.ts';

// Two platform processes running presenceResponder on one real Redis (@socket.io/redis-adapter),
// real socket.io-client users whose handshakes carry a session cookie and a header we can look for.
const database = useTestDatabase('socketio_responder');
const token = randomBytes(24).toString('base64url');
const stateDir = tempStateDir();
const cookieValue = randomBytes(16).toString('hex');
const headerValue = randomBytes(16).toString('hex');
const handshake = { headers: { cookie: `session=${cookieValue}`, 'x-request-marker': headerValue } };
const people = offlineUsers(4);
const [onA, onB, onBoth, onC] = people.map((user) => user._id.toHexString()) as [string, string, string, string];
const ghosts = offlineUsers(2);
const ENDPOINT_TIMEOUT_MS = 2000;
const USERS_REQUESTS = 'socket.io-request#/#';
const RESPONDER_REQUESTS = 'socket.io-request#/presence-maint#';
let redis: RedisServer;
let redisClient: ReturnType<typeof createClient>;
let a: PlatformNode;
let b: PlatformNode;
const clients: PlatformClient[] = [];

const subscribers = async (channel: string) => Number((await redisClient.pubSubNumSub(channel))[channel] ?? 0);
const sorted = (set: ConnectedSet) => ({ ...set, userIds: [...set.userIds].sort() });
const refusalOf = (work: Promise<unknown>) => work.then(() => undefined, (error: unknown) => error as ConnectedSourceError);
const users = () => database.db().collection('users');

function presence(args: string[]) {
  return runCli([...args, '--uri', database.uri(), '--connected-redis', redis.uri, '--connected-timeout', '2'], {
    env: { PRESENCE_STATE_DIR: stateDir },
    timeoutMs: 60_000,
  });
}

/** What fetchSockets() says of the same deployment: a headless server in this process asks every node for its sockets. */
async function fetchSocketsAnswer() {
  const publisher = createClient({ url: redis.uri });
  const subscriber = publisher.duplicate();
  await Promise.all([publisher.connect(), subscriber.connect()]);
  const before = await subscribers(USERS_REQUESTS);
  const io = new Server({ adapter: createAdapter(publisher, subscriber) });
  try {
    await until('this server counted', async () => (await subscribers(USERS_REQUESTS)) === before + 1, { withinMs: 10_000, everyMs: 25 });
    const sockets = await io.fetchSockets();
    const userIds = new Set(sockets.map((socket) => (socket.data as { userId?: string }).userId).filter((id) => id !== undefined));
    return { userIds: [...userIds].sort(), sockets: sockets.length, servers: (await io.of('/').adapter.serverCount()) - 1 };
  } finally {
    io.of('/').adapter.close();
    await Promise.all([publisher.close(), subscriber.close()]);
    await until('this server gone', async () => (await subscribers(USERS_REQUESTS)) === before, { withinMs: 10_000, everyMs: 25 });
  }
}

/** Every message published on Redis while `work` runs, as text (PSUBSCRIBE '*', which the adapters do not count as a server). */
async function publishedDuring(work: () => Promise<unknown>): Promise<string> {
  const watcher = redisClient.duplicate();
  await watcher.connect();
  const seen: string[] = [];
  await watcher.pSubscribe('*', (message: Buffer, channel: Buffer) => seen.push(`${channel.toString()} ${message.toString('latin1')}`), true);
  try {
    await work();
  } finally {
    await watcher.close();
  }
  return seen.join('\n');
}

beforeAll(async () => {
  redis = await startRedis();
  redisClient = createClient({ url: redis.uri });
  await redisClient.connect();
  const tenMinutesAgo = new Date(Date.now() - 10 * 60_000);
  await users().insertMany([...people, ...ghosts.map((ghost) => ({ ...ghost, isOnline: true, lastSeen: tenMinutesAgo }))]);
  const node = () => startPlatform({ mongoUri: database.uri(), token, redisUri: redis.uri, timeoutMs: ENDPOINT_TIMEOUT_MS, responder: true });
  [a, b] = await Promise.all([node(), node()]);
  await until('two servers with responders', async () => (await subscribers(RESPONDER_REQUESTS)) === 2 && (await subscribers(USERS_REQUESTS)) === 2, {
    withinMs: 10_000,
    everyMs: 25,
  });
  // A user on each node, one on both (twice on b), an anonymous visitor on each.
  clients.push(...(await connectUsers(a, [onA, onBoth, undefined], handshake)), ...(await connectUsers(b, [onB, onBoth, onBoth, undefined], handshake)));
});
afterEach(() => {
  b?.signal('SIGCONT');
});
afterAll(async () => {
  for (const client of clients) client.socket.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redisClient?.close();
  await redis?.stop();
});

describe('presenceResponder on every node: who is connected, asked for ids only', () => {
  it('the ids answer of either endpoint and of the Redis source equals the fetchSockets() answer', async () => {
    const expected = { userIds: [onA, onB, onBoth].sort(), sockets: 7, servers: 2 };
    expect(await fetchSocketsAnswer()).toEqual(expected);
    for (const source of [endpointSource(a.endpointUrl, { token }), endpointSource(b.endpointUrl, { token }), redisAdapterSource(redis.uri, { timeoutMs: 3000 })]) {
      expect(sorted(await source.fetch())).toEqual({ ...expected, at: expect.any(Date), via: 'ids' });
      await source.close();
    }
    // The Redis source left, and never joined the users' namespace.
    expect(await subscribers(RESPONDER_REQUESTS)).toBe(2);
    expect(await subscribers(USERS_REQUESTS)).toBe(2);
  });

  it('no header, cookie or socket id crosses Redis when asking for ids (and they do with fetchSockets())', async () => {
    const asked = await publishedDuring(async () => {
      await endpointSource(a.endpointUrl, { token }).fetch();
      await redisAdapterSource(redis.uri, { timeoutMs: 3000 }).fetch();
    });
    expect(asked).toContain('presence-maint:who');
    for (const id of [onA, onB, onBoth]) expect(asked).toContain(id);
    expect(asked).not.toContain(cookieValue);
    expect(asked).not.toContain(headerValue);
    for (const { socket } of clients) expect(asked).not.toContain(socket.id!);

    // The same watch sees them when every socket is fetched: the check above can fail.
    const fetched = await publishedDuring(fetchSocketsAnswer);
    expect(fetched).toContain(cookieValue);
    expect(fetched).toContain(headerValue);
  });

  it('a stalled node (SIGSTOP): unknown everywhere, and reconcile refuses with nothing written (exit 4)', async () => {
    const before = await collectionChecksum(database.db(), 'users');
    b.signal('SIGSTOP');
    const response = await fetch(a.endpointUrl, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ complete: false, error: `no complete answer within ${ENDPOINT_TIMEOUT_MS} ms` });

    const fromRedis = await refusalOf(redisAdapterSource(redis.uri, { timeoutMs: 1000 }).fetch());
    expect(fromRedis).toBeInstanceOf(ConnectedSourceError);
    expect(fromRedis!.exitCode).toBe(ExitCode.refused);
    expect(fromRedis!.message).toMatch(/no complete answer within 1000 ms/);

    for (const source of [['--connected-redis', redis.uri], ['--connected', a.endpointUrl]]) {
      const result = await runCli(['reconcile', '--json', '--uri', database.uri(), ...source, '--connected-timeout', '3'], {
        env: { PRESENCE_STATE_DIR: stateDir, PRESENCE_CONNECTED_TOKEN: token },
        timeoutMs: 60_000,
      });
      expect(result.code).toBe(4);
      expect(parseJson<TaskRunRecord>(result.stdout)).toMatchObject({ status: 'refused', result: { state: 'not-reached' } });
    }
    const status = await presence(['status', '--json']);
    expect(parseJson<{ connected: { state: string } }>(status.stdout).connected.state).toBe('unknown');
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
  });

  it('a server without the responder joining while ids are asked: a partial answer, refused (exit 4)', async () => {
    for (const asking of [
      (signal: AbortSignal) => endpointSource(a.endpointUrl, { token }).fetch(signal),
      (signal: AbortSignal) => redisAdapterSource(redis.uri, { timeoutMs: 5000 }).fetch(signal),
    ]) {
      b.signal('SIGSTOP');
      const request = await watchRequest(redisClient, RESPONDER_REQUESTS, AdapterRequest.serverSideEmit);
      const outcome = refusalOf(asking(AbortSignal.timeout(10_000)));
      await request.sent;
      const publisher = createClient({ url: redis.uri });
      const subscriber = publisher.duplicate();
      await Promise.all([publisher.connect(), subscriber.connect()]);
      const joining = new Server({ adapter: createAdapter(publisher, subscriber) });
      await until('the server without responder subscribed', async () => (await subscribers(USERS_REQUESTS)) === 3, { withinMs: 10_000, everyMs: 25 });
      b.signal('SIGCONT');
      const refused = await outcome;
      joining.of('/').adapter.close();
      await Promise.all([publisher.close(), subscriber.close()]);
      await until('back to two servers', async () => (await subscribers(USERS_REQUESTS)) === 2, { withinMs: 10_000, everyMs: 25 });
      expect(refused).toBeInstanceOf(ConnectedSourceError);
      expect(refused!.exitCode).toBe(ExitCode.refused);
      expect(refused!.message).toMatch(/partial answer/);
    }
  });

  it('a rolling upgrade (a node without the responder): every asker falls back to fetchSockets(), complete, and says so', async () => {
    const old = await startPlatform({ mongoUri: database.uri(), token, redisUri: redis.uri, timeoutMs: ENDPOINT_TIMEOUT_MS });
    const oldClients = await connectUsers(old, [onC], handshake);
    try {
      await until('three servers', async () => (await subscribers(USERS_REQUESTS)) === 3, { withinMs: 10_000, everyMs: 25 });
      const expected = { userIds: [onA, onB, onBoth, onC].sort(), sockets: 8, servers: 3, at: expect.any(Date), via: 'fetchSockets' };
      for (const source of [endpointSource(a.endpointUrl, { token }), endpointSource(old.endpointUrl, { token }), redisAdapterSource(redis.uri, { timeoutMs: 3000 })]) {
        expect(sorted(await source.fetch())).toEqual(expected);
      }
      const status = await presence(['status']);
      expect(status.stdout).toMatch(/with fetchSockets\(\) \(every socket and its handshake: a server runs no presenceResponder/);
    } finally {
      for (const client of oldClients) client.socket.close();
      await old.stop();
    }
    await until('two servers again', async () => (await subscribers(USERS_REQUESTS)) === 2, { withinMs: 10_000, everyMs: 25 });
  });

  it('status says which way it asked, in text, JSON and Prometheus (promtool-clean); reconcile then sets the ghosts offline', async () => {
    const text = await presence(['status']);
    expect(text.stdout).toMatch(/asked at \S+ for user ids \(presenceResponder on every server\)/);
    const json = parseJson<{ connected: Record<string, unknown> }>((await presence(['status', '--json'])).stdout);
    expect(json.connected).toMatchObject({ state: 'known', via: 'ids', connected: 3, sockets: 7, servers: 2, ghosts: 2 });
    const metrics = await presence(['status', '--format', 'prometheus']);
    expect(metrics.stdout).toMatch(/^presence_connected_source_info\{source="[^"]+",via="ids"\} 1$/m);
    const promtool = await checkMetrics(metrics.stdout);
    expect(promtool).toEqual({ code: 0, output: '' });

    const result = await presence(['reconcile', '--json']);
    expect(result.code).toBe(0);
    const offline = await users().countDocuments({ _id: { $in: ghosts.map((ghost) => ghost._id) }, isOnline: false });
    expect(offline).toBe(2);
  });
});

/** `promtool check metrics` (Debian's prometheus package) on the exposition text. */
function checkMetrics(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, output: output.trim() }));
    child.stdin.end(text);
  });
}
