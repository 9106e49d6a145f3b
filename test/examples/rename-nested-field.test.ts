import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EJSON } from 'bson';
import type { Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RestoreRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';

const database = useTestDatabase('example_rename');
const stateDir = tempStateDir();

/** The example as a user keeps it: a bare directory of their own, no node_modules, only the CLI. */
const tasksDir = mkdtempSync(join(tmpdir(), 'my-tasks-'));
writeFileSync(join(tasksDir, 'package.json'), JSON.stringify({ type: 'module' }));
copyFileSync(join(REPO, 'examples', 'tasks', 'rename-nested-field.ts'), join(tasksDir, 'rename-nested-field.ts'));

const presence = (...args: string[]) =>
  runCli([...args, '--uri', database.uri(), '--tasks-dir', tasksDir, '--json'], { env: { PRESENCE_STATE_DIR: stateDir } });

const users: Document[] = [
  { _id: 1, name: 'ada', profile: { mail: 'ada@example.com', locale: 'fr' } },
  { _id: 2, name: 'bob', profile: { mail: 'bob@example.com', email: 'robert@example.com' } },
  { _id: 3, name: 'cy' },
  { _id: 4, name: 'dee', profile: [{ mail: 'dee@example.com' }] },
  { _id: 5, name: 'eve', profile: { mail: null, locale: 'en' } },
];

/** Values whatever the order of fields: a renamed field put back comes at the end of its sub-document. */
function values(documents: Document[]): unknown {
  const sorted = (value: unknown): unknown =>
    value !== null && typeof value === 'object' && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype
      ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, sorted((value as Document)[key])]))
      : Array.isArray(value)
        ? value.map(sorted)
        : EJSON.stringify({ v: value }, { relaxed: false });
  return documents.map(sorted);
}

describe('examples/tasks/rename-nested-field.ts, from a bare directory', () => {
  let original: Document[];
  let appliedRunId: string;
  beforeAll(async () => {
    await database.db().collection<{ _id: number } & Document>('users').insertMany(users as never);
    original = await database.db().collection('users').find({}, { sort: { _id: 1 }, promoteValues: false }).toArray();
  });

  it('plans the rename read-only: who, a sample before → after, and the malformed profile it leaves alone', async () => {
    const before = await collectionChecksum(database.db(), 'users');
    const dry = await presence('run', 'rename-nested-field', '--dry-run');
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    const record = parseJson<TaskRunRecord>(dry.stdout);
    expect(record.plan).toMatchObject({ state: 'done', count: 2, fields: ['profile.mail', 'profile.email'], malformed: { count: 1 } });
    const sample = EJSON.parse(record.plan.state === 'done' ? record.plan.sample! : '[]') as Array<{ _id: number; before: Document; after: Document }>;
    expect(sample[0]).toEqual({ _id: 1, before: { 'profile.mail': 'ada@example.com' }, after: { 'profile.email': 'ada@example.com' } });
    expect(record.notices.join('\n')).toMatch(/1 matched document\(s\) left alone as malformed, e\.g\. 4: "profile" is an array/);
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
  });

  it('renames, leaving neighbours, the user with both fields and the malformed one alone; once applied it is done', async () => {
    const run = await presence('run', 'rename-nested-field');
    expect(run.code).toBe(0);
    const record = parseJson<TaskRunRecord>(run.stdout);
    expect(record.result).toMatchObject({ planned: 2, written: 2, skipped: 0, failed: 0 });
    appliedRunId = record._id;
    const now = await database.db().collection('users').find({}, { sort: { _id: 1 } }).toArray();
    expect(now).toEqual([
      { _id: 1, name: 'ada', profile: { locale: 'fr', email: 'ada@example.com' } },
      users[1],
      users[2],
      users[3],
      { _id: 5, name: 'eve', profile: { locale: 'en', email: null } },
    ]);

    const tasks = await presence('tasks');
    expect(parseJson<Array<{ task: string; state: string }>>(tasks.stdout).find((row) => row.task === 'rename-nested-field')).toMatchObject({ state: 'applied' });
  });

  it('restore puts every value and type back (the old field at the end of its sub-document); twice changes nothing', async () => {
    const restore = await presence('restore', appliedRunId);
    expect(restore.code).toBe(0);
    expect(parseJson<RestoreRecord>(restore.stdout).restore).toMatchObject({ restored: 2, conflicts: 0 });
    const restored = await database.db().collection('users').find({}, { sort: { _id: 1 }, promoteValues: false }).toArray();
    expect(values(restored)).toEqual(values(original));

    const again = await presence('restore', appliedRunId);
    expect(parseJson<RestoreRecord>(again.stdout).restore).toMatchObject({ restored: 0, alreadyRestored: 2, conflicts: 0 });
  });
});
