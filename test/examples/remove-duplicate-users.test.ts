import { EJSON } from 'bson';
import type { Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RestoreRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { reachedStep } from '../support/records.ts';
import { bytesOf, exampleInBareDirectory, presenceWith, storedDocuments } from './bare-directory.ts';

const database = useTestDatabase('example_duplicates');
const presence = presenceWith(database.uri, exampleInBareDirectory('remove-duplicate-users.ts'), tempStateDir());
const TASK = 'remove-duplicate-users';

const at = (day: string) => new Date(`${day}T12:00:00Z`);

// Inserted out of age order, so that what is kept is decided by createdAt and _id, not by insertion.
const users: Document[] = [
  // One address in three spellings: 3 is the oldest.
  { _id: 1, name: 'ada', email: 'ada@example.com', createdAt: at('2020-05-01') },
  { _id: 2, name: 'Ada L.', email: '  ADA@Example.com ', createdAt: at('2021-01-01'), plan: { tier: 'pro' } },
  { _id: 3, name: 'Ada Lovelace', email: 'Ada@example.COM', createdAt: at('2019-03-01') },
  // Created the same instant: the smaller _id is kept.
  { _id: 11, name: 'bob two', email: 'BOB@example.com', createdAt: at('2022-02-02') },
  { _id: 10, name: 'bob', email: 'bob@example.com\t', createdAt: at('2022-02-02') },
  { _id: 20, name: 'cy', email: 'cy@example.com', createdAt: at('2020-01-01') },
  // No address: never touched, not even the blank ones that would "share" one.
  { _id: 30, name: 'no email' },
  { _id: 31, name: 'null email', email: null },
  { _id: 32, name: 'empty email', email: '' },
  { _id: 33, name: 'blank email', email: '   ', createdAt: at('2018-01-01') },
  { _id: 34, name: 'blank email too', email: ' ', createdAt: at('2019-01-01') },
  { _id: 35, name: 'array email', email: ['cy@example.com'] },
  // One of them has no creation date: which is the original is for a person to say.
  { _id: 40, name: 'dee', email: 'dee@example.com', createdAt: at('2020-01-01') },
  { _id: 41, name: 'Dee', email: 'DEE@example.com' },
];
const duplicates = [1, 2, 11];

const stored = () => storedDocuments(database.db(), 'users');

// Several CLI processes a test, each a few seconds on a loaded machine.
describe('examples/tasks/remove-duplicate-users.ts, from a bare directory', { timeout: 240_000 }, () => {
  let original: Document[];
  let runId: string;
  beforeAll(async () => {
    await database.db().collection('users').insertMany(users);
    original = await stored();
  });

  it('is listed, and names its parameters when given one it does not take', async () => {
    const tasks = await presence(['tasks', '--json']);
    expect(tasks.code, tasks.stderr).toBe(0);
    expect(parseJson<Array<{ task: string; mode: string }>>(tasks.stdout).find((row) => row.task === TASK)).toMatchObject({ mode: 'repeatable' });
    const wrong = await presence(['run', TASK, '--dry-run', '--param', 'keep=newest']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/unknown parameter "keep" \(parameters: collection, emailField, createdAtField\)/);
  });

  it('plans read-only: the younger duplicates whole, and the address it leaves for a person', async () => {
    const dry = await presence(['run', TASK, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(dry.stdout);
    const plan = reachedStep('plan', record.plan);
    expect(plan).toMatchObject({ kind: 'delete', collection: 'users', count: duplicates.length });
    const sample = EJSON.parse(plan.sample!) as Array<{ _id: number }>;
    expect(sample.map((entry) => entry._id).sort((a, b) => a - b)).toEqual(duplicates);
    expect(record.notices, JSON.stringify(record.notices)).toContain('1 shared address(es) left alone: one of their users has no createdAt date');
    expect(bytesOf(await stored())).toBe(bytesOf(original));
  });

  it('deletes the duplicates, keeps the oldest of each address and every user without one', async () => {
    const run = await presence(['run', TASK, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(run.stdout);
    expect(reachedStep('apply', record.result)).toMatchObject({ planned: duplicates.length, written: duplicates.length, skipped: 0, failed: 0 });
    runId = record._id;
    expect(bytesOf(await stored())).toBe(bytesOf(original.filter((user) => !duplicates.includes(Number(user._id)))));

    const again = await presence(['run', TASK, '--json']);
    expect(reachedStep('plan', parseJson<TaskRunRecord>(again.stdout).plan).count).toBe(0);
  });

  it('restore brings the deleted users back byte for byte; twice changes nothing', async () => {
    const restore = await presence(['restore', runId, '--json']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(reachedStep('restore', parseJson<RestoreRecord>(restore.stdout).restore)).toMatchObject({ restored: duplicates.length, conflicts: 0 });
    expect(bytesOf(await stored())).toBe(bytesOf(original));

    const again = await presence(['restore', runId, '--json']);
    expect(reachedStep('restore', parseJson<RestoreRecord>(again.stdout).restore)).toMatchObject({ restored: 0, alreadyRestored: duplicates.length });
    expect(bytesOf(await stored())).toBe(bytesOf(original));
  });
});
