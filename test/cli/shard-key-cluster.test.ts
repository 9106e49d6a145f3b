import { join } from 'node:path';
import type { Document } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { shardKeyTargeting } from '../../src/db/shard-key.ts';
import { compareAndSetFilter } from '../../src/engine/document-state.ts';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { reachedStep } from '../support/records.ts';

/**
 * Only a real sharded cluster shows where mongos sends a write: this runs
 * when MONGODB_TEST_URI names a mongos (MongoDB 6.0–8.0), and is skipped on
 * any other server. The embedded engine's side is test/cli/shard-key.test.ts.
 */
describe.runIf(process.env.MONGODB_TEST_URI !== undefined)('on a real sharded cluster', () => {
  const database = useTestDatabase('shardreal');
  const USERS = 200;

  it('the shard key comes from config.collections, each compare-and-set write targets one shard, and a run records it', async (context) => {
    const db = database.db();
    const admin = db.admin();
    if ((await admin.command({ hello: 1 })).msg !== 'isdbgrid') context.skip();
    const namespace = `${database.name}.users`;
    await admin.command({ enableSharding: database.name });
    await admin.command({ shardCollection: namespace, key: { region: 1 } });
    // With two shards or more, the regions live on different shards: a write without the key could not be routed.
    const shards: Document[] = (await admin.command({ listShards: 1 })).shards;
    if (shards.length > 1) {
      await admin.command({ split: namespace, middle: { region: 'm' } });
      const owner = await db.client.db('config').collection<{ _id: string; primary: string }>('databases').findOne({ _id: database.name });
      const other = shards.find((shard) => shard._id !== owner?.primary);
      await admin.command({ moveChunk: namespace, find: { region: 'us' }, to: other!._id });
    }
    const users = db.collection<{ _id: number; name: string; score: number; region: string }>('users');
    await users.insertMany(Array.from({ length: USERS }, (_, id) => ({ _id: id, name: `u${id}`, score: id, region: id % 2 === 0 ? 'eu' : 'us' })));

    expect(await shardKeyTargeting(db, undefined)('users')).toEqual({ targeting: { fields: ['region'], source: 'detected' }, notice: undefined });

    for (const region of ['eu', 'us']) {
      const id = region === 'eu' ? 0 : 1;
      const explained = await db.command({
        explain: { update: 'users', updates: [{ q: compareAndSetFilter(id, { score: id }, ['flagged'], { region }), u: { $set: { flagged: true } } }] },
        verbosity: 'queryPlanner',
      });
      expect(explained.queryPlanner.winningPlan.stage, JSON.stringify(explained.queryPlanner)).toBe('SINGLE_SHARD');
      expect(explained.queryPlanner.winningPlan.shards).toHaveLength(1);
    }

    const result = await runCli(['run', 'flag-users', '--json', '--uri', database.uri(), '--tasks-dir', join(REPO, 'test', 'fixtures', 'tasks')], {
      env: { PRESENCE_STATE_DIR: tempStateDir() },
      timeoutMs: 120_000,
    });
    expect(result.code, result.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(reachedStep('plan', record.plan).targeting).toEqual({ fields: ['region'], source: 'detected' });
    expect(reachedStep('apply', record.result)).toMatchObject({ planned: USERS, written: USERS });
  });
});
