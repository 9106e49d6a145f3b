import { describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { idsOf, population, PRESENCE_CASES, writeConfig, type PresenceCase } from './population.ts';
import { changedIds, snapshot } from './snapshot.ts';

const database = useTestDatabase('presencecleanup');
const stateDir = tempStateDir();
/** Several write batches per run. */
const BATCH = ['--batch-size', '20'];

function cli(presence: PresenceCase, ...args: string[]) {
  return runCli([...args, '--uri', database.uri(), '--config', writeConfig(stateDir, presence)], {
    env: { PRESENCE_STATE_DIR: stateDir },
  });
}

describe.each(PRESENCE_CASES)('presence cleanup ($name)', (presence) => {
  it('leaves no one online, never touches malformed documents, and is restorable to the byte', async () => {
    const pop = population(presence, new Date());
    const users = database.db().collection(presence.collection);
    await users.insertMany(pop.users);
    const checksumBefore = await collectionChecksum(database.db(), presence.collection);
    const before = await snapshot(database.db(), presence.collection);
    const online = idsOf(pop, 'active', 'stale', 'onlineWithoutActivity');

    const dryRun = await cli(presence, 'cleanup', '--dry-run', ...BATCH);
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain(`${online.length} document(s) to change`);
    expect(await collectionChecksum(database.db(), presence.collection)).toBe(checksumBefore);

    const result = await cli(presence, 'cleanup', '--json', ...BATCH);
    expect(result.code).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record.result).toEqual({ state: 'done', planned: online.length, written: online.length, skipped: 0, failed: 0, remaining: 0 });
    expect(changedIds(before, await snapshot(database.db(), presence.collection))).toEqual(online);

    const status = await cli(presence, 'status', '--json');
    expect(parseJson<{ figures: { online: number; malformed: number } }>(status.stdout).figures).toMatchObject({
      online: 0,
      malformed: idsOf(pop, 'malformed').length,
    });
    for (const id of online) {
      expect(await users.findOne({ _id: id as never })).toMatchObject({ [presence.onlineField]: presence.offlineValue, ...presence.companions });
    }

    const restore = await runCli(['restore', record._id, '--uri', database.uri(), ...BATCH], { env: { PRESENCE_STATE_DIR: stateDir } });
    expect(restore.code).toBe(0);
    expect(await collectionChecksum(database.db(), presence.collection)).toBe(checksumBefore);
  });
});

describe('presence cleanup on an empty collection', () => {
  it('plans nothing, writes nothing and succeeds', async () => {
    await database.db().createCollection('empty_members');
    const result = await runCli(['cleanup', '--uri', database.uri(), '--collection', 'empty_members', '--json'], {
      env: { PRESENCE_STATE_DIR: stateDir },
    });
    expect(result.code).toBe(0);
    expect(parseJson<TaskRunRecord>(result.stdout)).toMatchObject({ status: 'succeeded', plan: { count: 0 } });
    expect(await database.db().collection('empty_members').countDocuments()).toBe(0);
  });
});
