import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { oneCleanLine } from './faults.ts';

/**
 * The backup directory on a real, small filesystem (a 256 KiB tmpfs) that fills up. Mounting needs root: as
 * root (CI, these machines) the mount must work; elsewhere the tests are skipped, saying why.
 */
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
const DISK_BYTES = 256 * 1024;
const isRoot = process.getuid?.() === 0;

const database = useTestDatabase('fulldisk');
const stateDir = tempStateDir();
const disk = join(stateDir, 'small-disk');
const backupDir = join(disk, 'backups');

beforeAll(() => {
  if (!isRoot) return;
  mkdirSync(disk);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES},mode=0700`, 'tmpfs', disk]);
});

afterAll(() => {
  if (!isRoot) return;
  execFileSync('umount', [disk]);
  rmSync(disk, { recursive: true, force: true });
});

function flagUsers(...args: string[]) {
  return runCli(['run', 'flag-users', '--json', '--uri', database.uri(), '--tasks-dir', FIXTURES, '--backup-dir', backupDir, ...args], {
    env: { PRESENCE_STATE_DIR: stateDir },
  });
}

/** Each user's `score` goes into the backup: random text does not compress, so its size is what the disk takes. */
async function seedUsers(scores: (n: number) => string | number, count: number) {
  const users = database.db().collection('users');
  await users.deleteMany({});
  await users.insertMany(Array.from({ length: count }, (_, n) => ({ _id: `u${String(n).padStart(4, '0')}` as never, score: scores(n) })));
  return collectionChecksum(database.db(), 'users');
}

describe.skipIf(!isRoot)('a backup directory without room', () => {
  it('is refused before the backup starts, with both figures, exit 4, nothing written', async () => {
    // About 400 KiB of backup by the plan's own estimate, for a 256 KiB disk.
    const pristine = await seedUsers(() => randomBytes(1500).toString('base64'), 200);
    const result = await flagUsers();

    expect(result.code, result.stderr).toBe(4);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record.status).toBe('refused');
    expect(record.error).toMatchObject({ step: 'backup', rule: 'backup-space' });
    expect(record.error?.message).toMatch(
      new RegExp(`^backup needs about [\\d,]+ bytes \\(the plan's estimate before compression\\) and ${backupDir} has [\\d,]+ bytes free: nothing written`),
    );
    const [needed, free] = [...record.error!.message.matchAll(/([\d,]+) bytes/g)].map((match) => Number(match[1]!.replace(/,/g, '')));
    expect(needed).toBeGreaterThan(free!);
    expect(free).toBeLessThanOrEqual(DISK_BYTES);
    expect(readdirSync(backupDir)).toEqual([]);
    expect(await collectionChecksum(database.db(), 'users')).toBe(pristine);
  });

  it('filling up during the backup says so, naming the file, removes the partial backup, writes nothing', async () => {
    // The plan's sample (the first users) is small, the rest is not: the estimate fits, the backup does not.
    const pristine = await seedUsers((n) => (n < 10 ? n : randomBytes(1500).toString('base64')), 250);
    const result = await flagUsers();

    expect(result.code, result.stderr).toBe(1);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record.status).toBe('failed');
    expect(record.error?.step).toBe('backup');
    expect(record.error?.message).toBe(
      `no space left on device writing ${join(backupDir, record._id, 'documents.ejson.gz')}; the incomplete backup was removed to give the space back, nothing written to the database`,
    );
    expect(readdirSync(backupDir)).toEqual([]);
    expect(await collectionChecksum(database.db(), 'users')).toBe(pristine);

    // Without --json, one clean line.
    const plain = await runCli(['run', 'flag-users', '--uri', database.uri(), '--tasks-dir', FIXTURES, '--backup-dir', backupDir], {
      env: { PRESENCE_STATE_DIR: stateDir },
    });
    expect(plain.code).toBe(1);
    expect(plain.stdout + plain.stderr).toMatch(/no space left on device writing \S+documents\.ejson\.gz/);
    expect(plain.stdout + plain.stderr).not.toMatch(/operation was aborted/);
    if (plain.stderr.trim() !== '') expect(oneCleanLine(plain.stderr), plain.stderr).toBe(true);
  });
});
