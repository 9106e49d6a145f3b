import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardKeyTargeting } from '../../src/db/shard-key.ts';
import { useTestDatabase } from '../support/database.ts';
import { answerAsMongos, refuseConfigReads } from '../support/mongos.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

/**
 * The embedded engine is no mongos: the proxy answers the tool's `hello` as
 * one, and `config.collections` holds, in the engine, the entry a sharded
 * cluster keeps for a sharded collection. With MONGODB_TEST_URI on a real
 * cluster, test/cli/shard-key-cluster.test.ts reads the real one.
 */
const real = process.env.MONGODB_TEST_URI !== undefined;
const database = useTestDatabase('shardkey');
let proxy: TcpProxy;
let client: MongoClient;
const namespace = () => `${database.name}.users`;
const config = () => database.client().db('config').collection<{ _id: string; key: object; unsplittable?: boolean }>('collections');

beforeAll(async () => {
  if (real) return;
  proxy = await startTcpProxy(database.uri());
  client = await MongoClient.connect(proxy.uri);
});
afterAll(async () => {
  await client?.close();
  await proxy?.close();
  if (!real) await config().deleteMany({ _id: { $in: [namespace(), `${database.name}.tracked`] } });
});

describe.skipIf(real)('the shard key of the collection a run writes', () => {
  const resolve = (given?: string[]) => shardKeyTargeting(client.db(database.name), given);

  it('is read from config.collections through a mongos; a different --shard-key is set aside, and said', async () => {
    await config().insertOne({ _id: namespace(), key: { region: 1, userId: 'hashed' } });
    const undo = answerAsMongos(proxy);
    try {
      expect(await resolve()('users')).toEqual({ targeting: { fields: ['region', 'userId'], source: 'detected' }, notice: undefined });
      expect(await resolve(['country'])('users')).toEqual({
        targeting: { fields: ['region', 'userId'], source: 'detected' },
        notice: `--shard-key country ignored: ${namespace()} is sharded on region,userId`,
      });
    } finally {
      undo();
      await config().deleteOne({ _id: namespace() });
    }
  });

  it('through a mongos that refuses config.collections, is the given --shard-key, or none with a notice that writes reach every shard', async () => {
    await config().insertOne({ _id: namespace(), key: { region: 1 } });
    const undo = [answerAsMongos(proxy), refuseConfigReads(proxy)];
    try {
      const given = await resolve(['region'])('users');
      expect(given.targeting).toEqual({ fields: ['region'], source: 'flag' });
      expect(given.notice).toMatch(new RegExp(`^the shard key of ${namespace()} is not readable \\(config.collections: not authorized on config.*\\): using the given --shard-key region$`));
      const none = await resolve()('users');
      expect(none.targeting).toEqual({ fields: [], source: 'none' });
      expect(none.notice).toMatch(/: each write goes to every shard; grant read on the config database or give --shard-key$/);
    } finally {
      for (const each of undo) each();
      await config().deleteOne({ _id: namespace() });
    }
  });

  it('through a mongos, is none for an unsharded collection (its writes go to one shard already), tracked by MongoDB 8.0 or not', async () => {
    await config().insertOne({ _id: `${database.name}.tracked`, key: { _id: 1 }, unsplittable: true });
    const undo = answerAsMongos(proxy);
    try {
      expect(await resolve()('users')).toEqual({ targeting: { fields: [], source: 'none' } });
      expect(await resolve()('tracked')).toEqual({ targeting: { fields: [], source: 'none' } });
      expect(await resolve(['region'])('tracked')).toEqual({ targeting: { fields: ['region'], source: 'flag' } });
    } finally {
      undo();
    }
  });

  it('on a server that is no mongos, is the given --shard-key (harmless: it narrows an _id filter), else none; config is not read', async () => {
    await config().insertOne({ _id: namespace(), key: { region: 1 } });
    const reads: string[] = [];
    const stop = proxy.onCommand((seen) => seen.collection === 'collections' && reads.push(seen.command));
    try {
      expect(await resolve(['user.region'])('users')).toEqual({ targeting: { fields: ['user.region'], source: 'flag' } });
      expect(await resolve()('users')).toEqual({ targeting: { fields: [], source: 'none' } });
      expect(reads).toEqual([]);
    } finally {
      stop();
      await config().deleteOne({ _id: namespace() });
    }
  });
});
