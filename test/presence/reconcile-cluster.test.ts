import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { reachedStep } from '../support/records.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { connectUsers, offlineUsers, startPlatform, type PlatformClient, type PlatformNode } from '../support/socketio-platform.ts';

/**
 * Two platform processes on one real Redis (@socket.io/redis-adapter), read by
 * reconcile through the adapter, as an app that cannot be changed is. Users'
 * _id are ObjectIds.
 */
const database = useTestDatabase('reconcile_cluster');
const token = randomBytes(24).toString('base64url');
const stateDir = tempStateDir();
const [onA, onB, ...ghosts] = offlineUsers(4);
let redis: RedisServer;
let a: PlatformNode;
let b: PlatformNode;
const clients: PlatformClient[] = [];
const users = () => database.db().collection('users');

function reconcile(...args: string[]) {
  return runCli(['reconcile', '--json', '--uri', database.uri(), '--connected-redis', redis.uri, '--connected-timeout', '2', ...args], {
    env: { PRESENCE_STATE_DIR: stateDir },
    timeoutMs: 120_000,
  });
}

beforeAll(async () => {
  redis = await startRedis();
  const tenMinutesAgo = new Date(Date.now() - 10 * 60_000);
  await users().insertMany([onA!, onB!, ...ghosts.map((ghost) => ({ ...ghost, isOnline: true, lastSeen: tenMinutesAgo }))]);
  const node = () => startPlatform({ mongoUri: database.uri(), token, redisUri: redis.uri });
  [a, b] = await Promise.all([node(), node()]);
  clients.push(...(await connectUsers(a, [onA!._id.toHexString()])), ...(await connectUsers(b, [onB!._id.toHexString()])));
});
afterAll(async () => {
  for (const client of clients) client.socket.close();
  b?.signal('SIGCONT');
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

describe('presence reconcile through the Redis adapter of a two-node cluster', () => {
  it('refuses while one node does not answer, writing nothing (exit 4)', async () => {
    const before = await collectionChecksum(database.db(), 'users');
    b.signal('SIGSTOP');
    try {
      const result = await reconcile();
      expect(result.code).toBe(4);
      expect(parseJson<TaskRunRecord>(result.stdout)).toMatchObject({ status: 'refused', result: { state: 'not-reached' } });
    } finally {
      b.signal('SIGCONT');
    }
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
  });

  it('sets offline exactly the ghosts once every node answers, the users of both nodes left online', async () => {
    const result = await reconcile();
    expect(result.code).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record.notices.join('\n')).toMatch(/2 user\(s\), 2 socket\(s\) on 2 server\(s\)/);
    expect(reachedStep('apply', record.result)).toMatchObject({ planned: 2, written: 2 });
    const online = await users().find({ isOnline: true }).toArray();
    expect(online.map((user) => String(user._id)).sort()).toEqual([onA!, onB!].map((user) => user._id.toHexString()).sort());
    expect(JSON.stringify(record)).not.toMatch(/redis:\/\/[^<]*@/);
  });
});
