import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, UsageError } from '../../src/engine/errors.ts';
import { ConnectedSourceError } from '../../src/presence/connected.ts';
import { redisAdapterSource } from '../../src/presence/connected/redis-source.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';

// A deployment on a password-protected Redis: one Socket.IO server in this process, with the
// adapter's channels under the app's own key and namespace, and a real client.
const password = randomBytes(18).toString('base64url');
const KEY = 'chat-app';
let redis: RedisServer;
let io: Server;
let redisClients: { close(): Promise<void> }[];
let client: Socket;

beforeAll(async () => {
  redis = await startRedis({ password });
  const publisher = createClient({ url: redis.uri });
  const subscriber = publisher.duplicate();
  redisClients = [publisher, subscriber];
  await Promise.all([publisher.connect(), subscriber.connect()]);
  const http = createServer();
  io = new Server(http, { adapter: createAdapter(publisher, subscriber, { key: KEY }) });
  // This app keeps its user under its own key, as a number.
  io.of('/rooms').on('connection', (socket) => (socket.data.user = { id: Number(socket.handshake.auth.userId) }));
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  client = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}/rooms`, { auth: { userId: 42 }, transports: ['websocket'] });
  await new Promise((connected) => client.once('connect', () => connected(undefined)));
});
afterAll(async () => {
  client?.close();
  await io?.close();
  await Promise.all(redisClients.map((redisClient) => redisClient.close()));
  await redis?.stop();
});

async function refusal(work: Promise<unknown>): Promise<ConnectedSourceError> {
  const error = await work.then(() => undefined, (thrown: unknown) => thrown);
  expect(error).toBeInstanceOf(ConnectedSourceError);
  expect((error as Error).message).not.toContain(password);
  expect((error as Error).message).not.toContain('\n');
  return error as ConnectedSourceError;
}

describe('redisAdapterSource', () => {
  it('authenticates, finds the users of its namespace, key and user field, and never shows the password', async () => {
    const source = redisAdapterSource(redis.uri, { namespace: '/rooms', key: KEY, userIdField: 'user.id', timeoutMs: 3000 });
    expect(source.description).toBe(`redis://<credentials>@127.0.0.1:${redis.port} (namespace /rooms, key ${KEY})`);
    const set = await source.fetch();
    expect({ ...set, userIds: [...set.userIds] }).toEqual({ userIds: ['42'], sockets: 1, servers: 1, at: expect.any(Date), via: 'fetchSockets' });
    await source.close();
  });

  it('refuses when no Socket.IO server is on that key or namespace: unknown, not "all offline" (exit 4)', async () => {
    for (const options of [{ key: 'socket.io', namespace: '/rooms' }, { key: KEY, namespace: '/lobby' }]) {
      const refused = await refusal(redisAdapterSource(redis.uri, { ...options, timeoutMs: 3000 }).fetch());
      expect(refused.exitCode).toBe(ExitCode.refused);
      expect(refused.message).toMatch(/no Socket.IO server of this namespace and key is on this Redis/);
    }
  });

  it('a wrong password, a Redis that is down or stalled: unreachable (exit 3)', async () => {
    const wrong = redis.uri.replace(encodeURIComponent(password), randomBytes(18).toString('base64url'));
    const refusedWrong = await refusal(redisAdapterSource(wrong, { timeoutMs: 3000 }).fetch());
    expect(refusedWrong.exitCode).toBe(ExitCode.database);
    expect(refusedWrong.message).toMatch(/Redis unreachable \(WRONGPASS/);

    const down = await startRedis();
    await down.stop();
    const refusedDown = await refusal(redisAdapterSource(down.uri, { timeoutMs: 3000 }).fetch());
    expect(refusedDown.exitCode).toBe(ExitCode.database);
    expect(refusedDown.message).toMatch(/Redis unreachable \(ECONNREFUSED\)/);

    process.kill(redis.pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const stalled = await refusal(redisAdapterSource(redis.uri, { timeoutMs: 500 }).fetch());
      expect(stalled.exitCode).toBe(ExitCode.database);
      expect(stalled.message).toMatch(/Redis unreachable \(no answer within 500 ms\)/);
      // It leaves without waiting on the stalled Redis for long.
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
  });

  it('bad input is a usage error (exit 2) that never quotes the URI', () => {
    for (const [uri, reason] of [
      [`not a uri ${password}`, /malformed Redis URI/],
      [`http://:${password}@127.0.0.1:6379`, /must start with redis:\/\/ or rediss:\/\/, not http:/],
    ] as const) {
      const build = () => redisAdapterSource(uri);
      expect(build).toThrow(UsageError);
      expect(build).toThrow(reason);
      expect(build).not.toThrow(password);
    }
  });
});
