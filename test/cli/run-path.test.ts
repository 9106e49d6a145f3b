import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Double, Int32, Long, type Document } from 'mongodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { openBackup, readBackupBatches } from '../../src/engine/backup.ts';
import type { RestoreRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { reachedStep } from '../support/records.ts';
import { idKey } from '../../src/engine/verify.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { buildUsers } from '../support/users.ts';

const database = useTestDatabase('runpath');
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
let stateDir: string;

function presence(...args: string[]) {
  return runCli([...args, '--uri', database.uri(), '--tasks-dir', FIXTURES, '--json'], {
    env: { PRESENCE_STATE_DIR: stateDir },
  });
}

async function seedUsers(count = 40): Promise<Document[]> {
  const users = buildUsers(new Date(), [
    {
      count,
      name: (i) => `user${i}`,
      extra: (i) => ({
        email: i % 3 === 0 ? `User${i}@Example.COM` : `user${i}@example.com`,
        // Types that must survive a backup and a restore exactly.
        score: i % 4 === 0 ? new Int32(i) : i % 4 === 1 ? new Double(i + 0.5) : i % 4 === 2 ? Long.fromNumber(i) : null,
        ...(i % 5 === 0 ? { flagged: false } : {}),
      }),
    },
  ]);
  await database.db().collection('users').insertMany(users);
  return users;
}

async function runRecord(runId: string): Promise<TaskRunRecord> {
  const record = await database.db().collection<TaskRunRecord>('maintenance_runs').findOne({ _id: runId });
  expect(record, `audit record of ${runId}`).not.toBeNull();
  return record!;
}

async function backedUpIds(runId: string): Promise<string[]> {
  const manifest = await openBackup(join(stateDir, 'backups'), runId);
  const ids: string[] = [];
  for await (const batch of readBackupBatches(join(stateDir, 'backups'), manifest, 7)) {
    ids.push(...batch.map((entry) => idKey(entry._id)));
  }
  return ids.sort();
}

beforeEach(async () => {
  stateDir = tempStateDir();
  await database.db().dropDatabase();
});

describe('the run path', () => {
  it('a dry-run leaves the collection byte-identical, exits 0 and is audited', async () => {
    await seedUsers();
    const before = await collectionChecksum(database.db(), 'users');

    const result = await presence('run', 'flag-users', '--dry-run');

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record).toMatchObject({ status: 'succeeded', dryRun: true, plan: { count: 32 } });
    expect((await runRecord(record._id)).dryRun).toBe(true);
  });

  it('backs up exactly the documents it changes, and restore brings back the exact pre-run state, twice', async () => {
    const users = await seedUsers();
    const before = await collectionChecksum(database.db(), 'users');

    const run = await presence('run', 'flag-users', '--batch-size', '7');
    expect(run.code, run.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(run.stdout);
    expect(record.result).toEqual({ state: 'done', planned: 32, written: 32, skipped: 0, failed: 0, remaining: 0 });
    expect(record.verify).toMatchObject({ checked: 32, inTargetState: 32 });

    const changed = users.filter((user) => user.flagged === undefined).map((user) => idKey(user._id)).sort();
    expect(await backedUpIds(record._id)).toEqual(changed);
    expect(await database.db().collection('users').countDocuments({ flagged: true, score: { $exists: false } })).toBe(32);

    const restore = await presence('restore', record._id);
    expect(restore.code, restore.stderr).toBe(0);
    expect(parseJson<RestoreRecord>(restore.stdout).restore).toMatchObject({ restored: 32, conflicts: 0 });
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);

    const again = await presence('restore', record._id);
    expect(again.code).toBe(0);
    expect(parseJson<RestoreRecord>(again.stdout).restore).toMatchObject({ restored: 0, alreadyRestored: 32 });
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
  });

  it('restore reports a document changed since the run instead of overwriting it, unless forced', async () => {
    await seedUsers(10);
    const run = parseJson<TaskRunRecord>((await presence('run', 'flag-users')).stdout);
    await database.db().collection('users').updateOne({ name: 'user1' }, { $set: { flagged: 'by hand' } });

    const restore = await presence('restore', run._id);
    expect(parseJson<RestoreRecord>(restore.stdout).restore).toMatchObject({ restored: 7, conflicts: 1 });
    expect(await database.db().collection('users').findOne({ name: 'user1' })).toMatchObject({ flagged: 'by hand' });

    const forced = await presence('restore', run._id, '--force');
    expect(parseJson<RestoreRecord>(forced.stdout).restore).toMatchObject({ forced: 1, alreadyRestored: 7 });
    expect((await database.db().collection('users').findOne({ name: 'user1' }))?.flagged).toBeUndefined();
  });

  it('a write that fails mid-apply leaves a failed record, a valid backup and a restorable state', async () => {
    const users = database.db().collection<{ _id: number; email: string }>('users');
    await users.createIndex({ email: 1 }, { unique: true });
    await users.insertMany([
      ...Array.from({ length: 10 }, (_, i) => ({ _id: i, email: `Person${i}@X.org` })),
      { _id: 5.5, email: 'person7@x.org' }, // the normalized form of Person7 exists already
    ]);
    const before = await collectionChecksum(database.db(), 'users');

    const result = await presence('run', 'normalize-emails', '--batch-size', '3');

    expect(result.code).toBe(1);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record.status).toBe('failed');
    expect(record.error).toMatchObject({ step: 'apply' });
    expect(record.error?.message).toMatch(/7/);
    const { written, skipped, failed, remaining, planned } = reachedStep('apply', record.result);
    expect({ planned, failed }).toEqual({ planned: 10, failed: 1 });
    expect(written + skipped + failed + remaining).toBe(planned);
    expect(written).toBe(7);
    expect(await backedUpIds(record._id)).toHaveLength(10);
    expect((await runRecord(record._id)).status).toBe('failed');

    const restore = await presence('restore', record._id);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
  });

  it('a task that throws while planned documents are backed up fails before any write', async () => {
    // Past the plan's sample of 5, so the plan succeeds and the backup meets it.
    const users = Array.from({ length: 9 }, (_, i) => ({ _id: i, name: `u${i}`, ...(i === 7 ? { boom: true } : {}) }));
    await database.db().collection<{ _id: number }>('users').insertMany(users);
    const before = await collectionChecksum(database.db(), 'users');

    const result = await presence('run', 'explode', '--batch-size', '2');

    expect(result.code).toBe(1);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record).toMatchObject({ status: 'failed', error: { step: 'backup' } });
    expect(record.error?.message).toContain('cannot handle user u7');
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
    expect((await runRecord(record._id)).status).toBe('failed');
    const restore = await presence('restore', record._id);
    expect(restore.code).toBe(2);
    expect(restore.stderr).toMatch(/backup of run \S+ is incomplete/);
  });

  it('refuses a second concurrent run with exit 4, naming the holder', async () => {
    await seedUsers(5);
    let holderOutput = '';
    // Held long enough for a second CLI to start and be refused on a loaded machine: a race load cannot win.
    const holder = runCli(['run', 'flag-users', '--param', 'holdMs=20000', '--uri', database.uri(), '--tasks-dir', FIXTURES], {
      env: { PRESENCE_STATE_DIR: stateDir },
      onStdout: (text) => (holderOutput = text),
    });
    await expect.poll(() => holderOutput, { timeout: 20_000 }).toMatch(/lock: held/);

    const second = await presence('run', 'flag-users');
    const first = await holder;

    expect(second.code).toBe(4);
    expect(second.stderr).toBe('');
    const refused = parseJson<TaskRunRecord>(second.stdout);
    expect(refused.status).toBe('refused');
    expect(refused.error?.message).toMatch(/another run holds the lock: run \S+ by \S+@\S+/);
    expect((await runRecord(refused._id)).status).toBe('refused');
    expect(first.code).toBe(0);
  });

  it('takes over an expired lock and closes the dead run it leaves behind, auditing both', async () => {
    await seedUsers(5);
    const db = database.db();
    const past = new Date(Date.now() - 120_000);
    await db.collection('maintenance_locks').insertOne({
      _id: 'maintenance' as never,
      runId: 'dead-run',
      owner: 'ghost@crashed-host',
      acquiredAt: past,
      expiresAt: new Date(past.getTime() + 60_000),
    });
    await db.collection('maintenance_runs').insertOne({
      _id: 'dead-run' as never,
      status: 'running',
      lockHeld: true,
      startedAt: past,
      task: { id: 'flag-users', version: 1, mode: 'repeatable', checksum: 'x' },
    });

    const result = await presence('run', 'flag-users');

    expect(result.code, result.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record.lockTakeover).toMatchObject({ previousRunId: 'dead-run', previousOwner: 'ghost@crashed-host' });
    expect(record.staleRunsClosed).toEqual(['dead-run']);
    expect((await runRecord(record._id)).lockTakeover?.previousRunId).toBe('dead-run');
    expect((await db.collection('maintenance_runs').findOne({ _id: 'dead-run' as never }))?.status).toBe('interrupted');
    expect(await db.collection('maintenance_locks').countDocuments()).toBe(0);
  });

  it('a SIGINT during apply ends the run as interrupted, with counts that add up', async () => {
    await seedUsers(60);
    let signalled = false;
    const result = await runCli(
      ['run', 'flag-users', '--rate', '20', '--batch-size', '2', '--uri', database.uri(), '--tasks-dir', FIXTURES],
      {
        env: { PRESENCE_STATE_DIR: stateDir },
        onStdout: (text, child) => {
          if (/backup: /.test(text) && !signalled) {
            signalled = true;
            setTimeout(() => child.kill('SIGINT'), 500);
          }
        },
      },
    );

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/SIGINT received, stopping after the current batch/);
    const [runId] = /run (\d{8}T\d{6}Z-[0-9a-f]{6})/.exec(result.stdout)!.slice(1);
    const record = await runRecord(runId!);
    expect(record.status).toBe('interrupted');
    const { written, skipped, failed, remaining, planned } = reachedStep('apply', record.result);
    expect(planned).toBe(48);
    expect(written).toBeGreaterThan(0);
    expect(remaining).toBeGreaterThan(0);
    expect(written + skipped + failed + remaining).toBe(planned);
    expect(reachedStep('verify', record.verify).inTargetState).toBe(written);
    expect(await database.db().collection('users').countDocuments({ flagged: true })).toBe(written);
  });

  it('keeps a local append-only audit file with the start and the end of every run, each line saying which release wrote it', async () => {
    await seedUsers(3);
    const { version } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
    const record = parseJson<TaskRunRecord>((await presence('run', 'flag-users', '--dry-run')).stdout);
    expect(record.toolVersion).toBe(version);
    expect((await runRecord(record._id)).toolVersion).toBe(version);
    const lines = (await readFile(join(stateDir, 'audit.jsonl'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
    expect(lines.map((line) => [line.event, line.toolVersion, line.record._id, line.record.status, line.record.toolVersion])).toEqual([
      ['started', version, record._id, 'running', version],
      ['completed', version, record._id, 'succeeded', version],
    ]);
  });

  it('runs a once task until it is applied, then reports it applied; restoring it makes it pending again', async () => {
    await seedUsers(4);
    const pending = parseJson<Array<{ task: string; state: string }>>((await presence('tasks')).stdout);
    expect(pending.find((row) => row.task === 'mark-once')?.state).toBe('pending');

    const run = parseJson<TaskRunRecord>((await presence('run', 'mark-once')).stdout);
    expect(run.status).toBe('succeeded');
    const applied = parseJson<Array<{ task: string; state: string }>>((await presence('tasks')).stdout);
    expect(applied.find((row) => row.task === 'mark-once')?.state).toBe('applied');

    const again = await presence('run', 'mark-once');
    expect(again.code).toBe(0);
    expect(parseJson(again.stdout)).toMatchObject({ status: 'already-applied' });

    await presence('restore', run._id);
    const restored = parseJson<Array<{ task: string; state: string }>>((await presence('tasks')).stdout);
    expect(restored.find((row) => row.task === 'mark-once')?.state).toBe('pending');
  });

  it('reports a task whose source changed without a version bump', async () => {
    await seedUsers(2);
    const dry = parseJson<TaskRunRecord>((await presence('run', 'flag-users', '--dry-run')).stdout);
    await database.db().collection('maintenance_runs').updateOne({ _id: dry._id as never }, { $set: { 'task.checksum': 'older' } });

    const result = parseJson<TaskRunRecord>((await presence('run', 'flag-users', '--dry-run')).stdout);
    expect(result.checksumDrift).toMatchObject({ recordedChecksum: 'older', recordedRunId: dry._id });
    expect(result.notices.join(' ')).toMatch(/changed since run .* without a version bump/);
    const listed = parseJson<Array<{ task: string; checksumDrift: boolean }>>((await presence('tasks')).stdout);
    expect(listed.find((row) => row.task === 'flag-users')?.checksumDrift).toBe(false);
  });
});

describe('restore refuses a backup it cannot trust, before writing', () => {
  async function appliedRun(): Promise<TaskRunRecord> {
    await seedUsers(6);
    return parseJson<TaskRunRecord>((await presence('run', 'flag-users')).stdout);
  }

  it('a corrupt backup file', async () => {
    const run = await appliedRun();
    const before = await collectionChecksum(database.db(), 'users');
    const data = join(stateDir, 'backups', run._id, 'documents.ejson.gz');
    const bytes = await readFile(data);
    const at = bytes.length - 5;
    bytes[at] = bytes[at]! ^ 0xff;
    await writeFile(data, bytes);

    const result = await presence('restore', run._id);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^presence: backup of run \S+ is corrupt: its sha256 does not match the manifest\n$/);
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
  });

  it('an incomplete backup (the run died while writing it)', async () => {
    const run = await appliedRun();
    const manifestPath = join(stateDir, 'backups', run._id, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    await writeFile(manifestPath, JSON.stringify({ ...manifest, complete: false }));

    const result = await presence('restore', run._id);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/backup of run \S+ is incomplete/);
  });

  it('a backup of another database', async () => {
    const run = await appliedRun();
    const manifestPath = join(stateDir, 'backups', run._id, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    await writeFile(manifestPath, JSON.stringify({ ...manifest, target: { ...manifest.target, database: 'elsewhere' } }));
    const before = await collectionChecksum(database.db(), 'users');

    const result = await presence('restore', run._id);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/is of database "elsewhere"/);
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
  });

  it('a run with no backup', async () => {
    const result = await presence('restore', '20990101T000000Z-000000');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no backup for run 20990101T000000Z-000000/);
  });
});
