import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/engine/run-record.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { MongoClient } from 'mongodb';
import { uniqueDatabaseName, uriFor, useTestDatabase } from '../support/database.ts';

const database = useTestDatabase('presenceindextask');
const stateDir = tempStateDir();

const MODELS = [
  { name: 'boolean isOnline', collection: 'members', params: ['collection=members'], index: 'isOnline_1_lastSeen_1' },
  {
    name: 'status string',
    collection: 'people',
    params: ['collection=people', 'onlineField=status', 'offlineValue=offline', 'lastSeenField=lastActiveAt'],
    index: 'status_1_lastActiveAt_1',
  },
];

function presence(...args: string[]) {
  return runCli([...args, '--uri', database.uri(), '--json'], { env: { PRESENCE_STATE_DIR: stateDir } });
}

async function indexNames(collection: string): Promise<string[]> {
  return (await database.db().collection(collection).listIndexes().toArray()).map((index) => index.name as string).sort();
}

describe.each(MODELS)('the presence index task ($name)', (model) => {
  const params = model.params.flatMap((param) => ['--param', param]);

  it('creates the recommended index once, audited, and a restore drops it', async () => {
    await database.db().collection(model.collection).insertOne({ name: 'someone' });
    const tasks = parseJson<Array<{ task: string; state: string; mode: string }>>((await presence('tasks')).stdout);
    expect(tasks.find((row) => row.task === 'presence-indexes')).toMatchObject({ mode: 'once', state: 'pending' });

    const run = await presence('run', 'presence-indexes', ...params);
    expect(run.code, run.stderr).toBe(0);
    const record = parseJson<RunRecord>(run.stdout);
    expect(record).toMatchObject({ status: 'succeeded', result: { written: 1 }, verify: { inTargetState: 1 } });
    expect(await indexNames(model.collection)).toEqual(['_id_', model.index]);

    const again = await presence('run', 'presence-indexes', ...params);
    expect(parseJson(again.stdout)).toMatchObject({ status: 'already-applied' });

    const restore = await presence('restore', record._id);
    expect(parseJson<RunRecord>(restore.stdout)).toMatchObject({ status: 'succeeded', restore: { restored: 1 } });
    expect(await indexNames(model.collection)).toEqual(['_id_']);
    await database.db().collection(model.collection).drop();
  });
});

describe('the presence index task', () => {
  it('keeps an index made by hand that already serves the queries', async () => {
    const users = database.db().collection('users');
    await users.createIndex({ isOnline: 1, lastSeen: -1, name: 1 }, { name: 'by_hand' });

    const record = parseJson<RunRecord>((await presence('run', 'presence-indexes')).stdout);
    expect(record).toMatchObject({ status: 'succeeded', plan: { count: 0 } });
    expect(await indexNames('users')).toEqual(['_id_', 'by_hand']);
  });

  it('makes the health check pass its index check (a once task is once per database)', async () => {
    const fresh = uriFor(uniqueDatabaseName('presenceindexfresh'));
    const client = await MongoClient.connect(fresh);
    try {
      await client.db().collection('users').insertOne({ isOnline: false, lastSeen: new Date() });
      const env = { PRESENCE_STATE_DIR: stateDir };
      const indexCheck = async () => {
        const health = parseJson<{ checks: Array<{ check: string; result: string }> }>((await runCli(['test', '--uri', fresh, '--json'], { env })).stdout);
        return health.checks.find((check) => check.check === 'indexes')?.result;
      };
      expect(await indexCheck()).toBe('fail');
      expect((await runCli(['run', 'presence-indexes', '--uri', fresh], { env })).code).toBe(0);
      expect(await indexCheck()).toBe('pass');
    } finally {
      await client.db().dropDatabase();
      await client.close();
    }
  });
});
