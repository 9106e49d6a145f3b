import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Document } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupPaths, openBackup, readBackupBatches } from '../../src/engine/backup.ts';
import type { BackupEntry } from '../../src/engine/document-state.ts';
import type { RestoreRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { answerAsMongos, commandOf, refuseConfigReads } from '../support/mongos.ts';
import { reachedStep } from '../support/records.ts';
import { messageDocuments, startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

/** Only the embedded engine may have `config.collections` written by a test; a real server's is the cluster's own. */
const real = process.env.MONGODB_TEST_URI !== undefined;
const database = useTestDatabase('shardcli');
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
const stateDir = tempStateDir();
const backupDir = join(stateDir, 'backups');
const USERS = 12;
const REGIONS = ['eu', 'us', 'ap'];
const regionOf = (id: number) => REGIONS[id % REGIONS.length]!;
const homeOf = (id: number) => REGIONS[(id + 1) % REGIONS.length]!;
let proxy: TcpProxy;

beforeAll(async () => {
  proxy = await startTcpProxy(database.uri());
});
afterAll(async () => {
  await proxy?.close();
  if (!real) await database.client().db('config').collection<{ _id: string }>('collections').deleteOne({ _id: `${database.name}.users` });
});

function presence(args: string[]) {
  return runCli([...args, '--uri', proxy.uri, '--tasks-dir', FIXTURES], { env: { PRESENCE_STATE_DIR: stateDir } });
}

async function seedUsers(): Promise<void> {
  const users = database.db().collection<{ _id: number; name: string; score: number; region: string; home: Document }>('users');
  await users.deleteMany({});
  await users.insertMany(
    Array.from({ length: USERS }, (_, id) => ({ _id: id, name: `u${id}`, score: id, region: regionOf(id), home: { region: homeOf(id) } })),
  );
}

/** Every statement of the write commands on `users` and every read of them, while `during` runs. */
async function observed<T>(during: () => Promise<T>) {
  const statements: Document[] = [];
  const reads: Document[] = [];
  const stop = proxy.onCommand((seen) => {
    if (seen.collection !== 'users') return;
    if (seen.command === 'update') statements.push(...messageDocuments(seen.message).flatMap((document) => (document.q ? [document] : (document.updates ?? []))));
    if (seen.command === 'find') reads.push(commandOf(seen).filter as Document);
  });
  try {
    return { result: await during(), statements, reads };
  } finally {
    stop();
  }
}

async function entriesOf(runId: string): Promise<BackupEntry[]> {
  const entries: BackupEntry[] = [];
  for await (const batch of readBackupBatches(backupDir, await openBackup(backupDir, runId), 100)) entries.push(...batch);
  return entries;
}

describe('--shard-key: bad input is one line, exit 2, nothing written', () => {
  it.each([
    ['empty', ''],
    ['an empty path segment', 'user..region'],
    ['an operator', '$region'],
    ['a space after the comma', 'region, userId'],
    ['a field twice', 'region,region'],
    ['a field and a path inside it', 'user,user.region'],
  ])('%s', async (_name, raw) => {
    const result = await presence(['run', 'flag-users', '--shard-key', raw]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--shard-key/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(await database.db().listCollections({}, { nameOnly: true }).toArray()).toEqual([]);
  });
});

describe('writes that carry the shard key', () => {
  it('with --shard-key region: every write and every re-read holds each document\'s backed-up region, and the plan says so', async () => {
    await seedUsers();
    const dryRun = await presence(['run', 'flag-users', '--shard-key', 'region', '--dry-run']);
    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(dryRun.stdout).toContain("every write's filter carries the shard key region (given by --shard-key)");

    const { result, statements, reads } = await observed(() => presence(['run', 'flag-users', '--shard-key', 'region', '--batch-size', '5', '--json']));
    expect(result.code, result.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(reachedStep('plan', record.plan).targeting).toEqual({ fields: ['region'], source: 'flag' });
    expect(reachedStep('apply', record.result)).toMatchObject({ planned: USERS, written: USERS, skipped: 0 });
    expect(statements).toHaveLength(USERS);
    for (const statement of statements) expect(statement.q).toMatchObject({ _id: statement.q._id, region: { $eq: regionOf(statement.q._id) } });
    // Verify's re-reads name each document with its region.
    const verifyReads = reads.filter((filter) => filter.$or !== undefined);
    expect(verifyReads.flatMap((filter) => filter.$or)).toEqual(Array.from({ length: USERS }, (_, id) => ({ _id: id, region: { $eq: regionOf(id) } })));

    const entries = await entriesOf(record._id);
    expect(entries.map((entry) => entry.targeting)).toEqual(Array.from({ length: USERS }, (_, id) => ({ region: regionOf(id) })));
    expect(JSON.parse(await readFile(backupPaths(backupDir, record._id).manifest, 'utf8')).targeting).toEqual({ fields: ['region'], source: 'flag' });

    // The restore targets from the backup: no flag needed.
    const restore = await observed(() => presence(['restore', record._id, '--json']));
    expect(restore.result.code, restore.result.stderr).toBe(0);
    const restored = parseJson<RestoreRecord>(restore.result.stdout);
    expect(reachedStep('restore', restored.restore)).toMatchObject({ restored: USERS, conflicts: 0 });
    expect(reachedStep('plan', restored.plan).targeting).toEqual({ fields: ['region'], source: 'flag' });
    expect(restore.statements).toHaveLength(USERS);
    for (const statement of restore.statements) expect(statement.q).toMatchObject({ region: { $eq: regionOf(statement.q._id) } });
    expect(await database.db().collection('users').countDocuments({ flagged: { $exists: false }, score: { $exists: true } })).toBe(USERS);
  });

  it('with a dotted --shard-key home.region: the embedded field\'s value, read with the pre-image, is in every write', async () => {
    await seedUsers();
    const { result, statements } = await observed(() => presence(['run', 'flag-users', '--shard-key', 'home.region', '--json']));
    expect(result.code, result.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(statements).toHaveLength(USERS);
    for (const statement of statements) expect(statement.q['home.region']).toEqual({ $eq: homeOf(statement.q._id) });
    expect((await entriesOf(record._id))[0]!.targeting).toEqual({ 'home.region': homeOf(0) });
  });

  it.skipIf(real)('through a mongos, the shard key read from config.collections is used without a flag, and recorded as detected; refused, the run says writes reach every shard', async () => {
    await seedUsers();
    await database.client().db('config').collection<{ _id: string; key: Document }>('collections').insertOne({ _id: `${database.name}.users`, key: { region: 'hashed' } });
    const undo = answerAsMongos(proxy);
    try {
      const { result, statements } = await observed(() => presence(['run', 'flag-users', '--json']));
      expect(result.code, result.stderr).toBe(0);
      const record = parseJson<TaskRunRecord>(result.stdout);
      expect(reachedStep('plan', record.plan).targeting).toEqual({ fields: ['region'], source: 'detected' });
      expect(statements).toHaveLength(USERS);
      for (const statement of statements) expect(statement.q.region).toEqual({ $eq: regionOf(statement.q._id) });

      // A user without read on config: the run goes on, on `_id` alone, and its record says what that costs.
      const refused = refuseConfigReads(proxy);
      try {
        const dryRun = await presence(['run', 'flag-users', '--dry-run', '--json']);
        expect(dryRun.code, dryRun.stderr).toBe(0);
        const unread = parseJson<TaskRunRecord>(dryRun.stdout);
        expect(reachedStep('plan', unread.plan).targeting).toEqual({ fields: [], source: 'none' });
        expect(unread.notices).toContainEqual(expect.stringMatching(/shard key of .*\.users is not readable .*each write goes to every shard/));
      } finally {
        refused();
      }
    } finally {
      undo();
    }
  });

  it('a task that would change a shard key field is refused at plan, nothing written', async () => {
    await seedUsers();
    const result = await presence(['run', 'flag-users', '--shard-key', 'region,score']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('task flag-users: changes "score", which holds the targeting field "score" (the shard key): the runner does not change it');
    expect(await database.db().collection('users').countDocuments({ flagged: true })).toBe(0);
  });

  it('a backup made before targeting existed still restores, its writes on _id and the compared fields', async () => {
    await seedUsers();
    const run = await presence(['run', 'flag-users', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const { _id: runId } = parseJson<TaskRunRecord>(run.stdout);
    // As older versions wrote it: no targeting in the manifest, none in the entries.
    const manifestPath = backupPaths(backupDir, runId).manifest;
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    delete manifest.targeting;
    await writeFile(manifestPath, JSON.stringify(manifest));
    expect((await entriesOf(runId)).every((entry) => !('targeting' in entry))).toBe(true);

    const { result, statements } = await observed(() => presence(['restore', runId, '--json']));
    expect(result.code, result.stderr).toBe(0);
    const restored = parseJson<RestoreRecord>(result.stdout);
    expect(reachedStep('restore', restored.restore)).toMatchObject({ restored: USERS, conflicts: 0 });
    expect(reachedStep('plan', restored.plan).targeting).toEqual({ fields: [], source: 'none' });
    for (const statement of statements) expect(Object.keys(statement.q)).not.toContain('region');
  });
});
