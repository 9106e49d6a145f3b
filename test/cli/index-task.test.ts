import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RestoreRecord, RunRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { reachedStep } from '../support/records.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';

const database = useTestDatabase('indextask');
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
let stateDir: string;

function presence(...args: string[]) {
  return runCli([...args, '--uri', database.uri(), '--tasks-dir', FIXTURES, '--json'], { env: { PRESENCE_STATE_DIR: stateDir } });
}

async function indexNames(): Promise<string[]> {
  return (await database.db().collection('users').listIndexes().toArray()).map((index) => index.name as string).sort();
}

beforeEach(async () => {
  stateDir = tempStateDir();
  await database.db().dropDatabase();
  await database.db().collection('users').insertOne({ email: 'a@x.org', team: 'red', joined: new Date() });
});

describe('a task that creates indexes', () => {
  it('plans the missing ones, creates them through backup/apply/verify, and a restore drops only those', async () => {
    await database.db().collection('users').createIndex({ email: 1 }, { name: 'email_1', unique: true });

    const dry = parseJson<TaskRunRecord>((await presence('run', 'index-users', '--dry-run')).stdout);
    expect(reachedStep('plan', dry.plan).count).toBe(1);
    expect(await indexNames()).toEqual(['_id_', 'email_1']);

    const run = parseJson<RunRecord>((await presence('run', 'index-users')).stdout);
    expect(run).toMatchObject({ status: 'succeeded', result: { planned: 1, written: 1 }, verify: { inTargetState: 1 } });
    expect(await indexNames()).toEqual(['_id_', 'email_1', 'team_1_joined_-1']);
    expect((await presence('run', 'index-users')).stdout).toMatch(/already-applied/);

    const restore = parseJson<RunRecord>((await presence('restore', run._id)).stdout);
    expect(restore).toMatchObject({ status: 'succeeded', restore: { restored: 1 }, verify: { inTargetState: 1 } });
    expect(await indexNames()).toEqual(['_id_', 'email_1']);
    const again = parseJson<RestoreRecord>((await presence('restore', run._id)).stdout);
    expect(again.restore).toMatchObject({ restored: 0, alreadyRestored: 1 });
  });

  it('fails at plan, writing nothing, when an index of the same name has another definition', async () => {
    await database.db().collection('users').createIndex({ email: -1 }, { name: 'email_1' });
    const result = await presence('run', 'index-users');
    expect(result.code).toBe(1);
    expect(parseJson<RunRecord>(result.stdout)).toMatchObject({ status: 'failed', error: { step: 'plan' } });
    expect(await indexNames()).toEqual(['_id_', 'email_1']);
  });
});
