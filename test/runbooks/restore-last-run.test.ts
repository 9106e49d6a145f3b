import { beforeEach, describe, expect, it } from 'vitest';
import type { RestoreRecord, RunRecord } from '../../src/engine/run-record.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { auditOf, onlineCount, runRunbook, seedUsers, windowFromNow, writingRuns } from './runbook-process.ts';

const database = useTestDatabase('rb_restore');
let env: NodeJS.ProcessEnv;

function restoreLast(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return runRunbook('restore-last-run', ['--uri', database.uri(), '--task', 'presence-cleanup', ...args], { env: { ...env, ...extraEnv } });
}

/** A cleanup on production, as an operator runs it; returns its record. */
async function cleanup(expected: number, extra: string[] = []): Promise<RunRecord> {
  const result = await runCli(
    ['run', 'presence-cleanup', '--uri', database.uri(), '--env', 'production', '--yes', '--expect', String(expected), '--json', ...extra],
    { env },
  );
  expect(result.code, result.stderr).toBe(0);
  return parseJson<RunRecord>(result.stdout);
}

function users() {
  return database.db().collection<{ _id: string; isOnline: boolean; lastSeen: Date }>('users');
}

beforeEach(async () => {
  env = { PRESENCE_STATE_DIR: tempStateDir() };
  await seedUsers(database.db(), { active: 4, stale: 6, offline: 10 });
});

describe('restore-last-run', () => {
  it("restores the task's latest real run (not an earlier one, not a dry run), after showing what will be put back", async () => {
    await cleanup(10);
    await users().updateMany({ _id: { $in: ['offline-0', 'offline-1', 'offline-2'] } }, { $set: { isOnline: true } });
    const latest = await cleanup(3);
    await runCli(['run', 'presence-cleanup', '--uri', database.uri(), '--dry-run'], { env });

    const result = await restoreLast(['--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`ok    history: latest run of presence-cleanup: ${latest._id} (presence-cleanup@1, succeeded, production)`);
    expect(result.stdout).toMatch(/ok {4}restore dry run: 3 document\(s\) of users would get their isOnline, lastSeen back/);
    expect(result.stdout).toContain('_id "offline-0"  isOnline: false → true');
    expect(result.stdout).toMatch(/ok {4}restore: 3 restored, 0 already as backed up, 0 changed since the run/);

    expect((await users().find({ isOnline: true }).toArray()).map((user) => user._id).sort()).toEqual(['offline-0', 'offline-1', 'offline-2']);
    const restores = (await auditOf(database.db(), { kind: 'restore' })) as RestoreRecord[];
    expect(restores.map((record) => [record.dryRun, record.restoreOf])).toEqual([
      [true, latest._id],
      [false, latest._id],
    ]);
    // Restoring production data is a production write: the run's environment, confirmed with the dry run's count.
    expect(restores[1]).toMatchObject({ status: 'succeeded', env: 'production', confirmation: { by: 'expected-count', expected: 3 }, restore: { restored: 3 } });
    expect(result.stdout).toContain(`summary: run ${latest._id} of presence-cleanup restored in ${database.name} (production): 3 document(s) put back, 0 changed since the run, left alone (--force overwrites them) · restore run ${restores[1]!._id}`);
  });

  it('leaves a user changed since the run alone and reports it; --force puts its status back too', async () => {
    const run = await cleanup(10);
    // Active again since the cleanup (its lastSeen moved): the restore must not take it for untouched.
    const activeAgain = new Date();
    await users().updateOne({ _id: 'stale-0' }, { $set: { lastSeen: activeAgain } });

    const result = await restoreLast(['--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/ok {4}restore: 9 restored, 0 already as backed up, 1 changed since the run, left alone \(--force overwrites them\)/);
    expect(await users().findOne({ _id: 'stale-0' })).toMatchObject({ isOnline: false, lastSeen: activeAgain });
    expect(await onlineCount(database.db())).toBe(9);

    const forced = await restoreLast(['--yes', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain(`already restored by run`);
    expect(forced.stdout).toMatch(/ok {4}restore: 0 restored, 9 already as backed up, 1 changed since the run, overwritten \(--force\)/);
    expect(await users().findOne({ _id: 'stale-0' })).toMatchObject({ isOnline: true });
    expect(await onlineCount(database.db())).toBe(10);
    expect(((await auditOf(database.db(), { kind: 'restore', dryRun: false })) as RestoreRecord[]).every((record) => record.restoreOf === run._id)).toBe(true);
  });

  it('without --yes and without a terminal: refused at the confirmation (exit 4), nothing written', async () => {
    await cleanup(10);
    const before = await collectionChecksum(database.db(), 'users');
    const result = await restoreLast([]);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/stopped at confirm \(exit 4\): confirmation required/);
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
    expect((await auditOf(database.db(), { kind: 'restore', dryRun: false })) as RestoreRecord[]).toEqual([]);
  });

  it('outside the window: refused (exit 4) with nothing written; with --outside-window the reason is audited', async () => {
    await cleanup(10);
    const closed = windowFromNow(120);
    const before = await collectionChecksum(database.db(), 'users');
    const refused = await restoreLast(['--yes'], { PRESENCE_MAINTENANCE_WINDOWS: closed });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/stopped at window \(exit 4\): outside the maintenance window/);
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);

    const overridden = await restoreLast(['--yes', '--window', closed, '--outside-window', 'wrong cleanup, users complained']);
    expect(overridden.code, overridden.stderr).toBe(0);
    expect(await onlineCount(database.db())).toBe(10);
    const [restore] = await auditOf(database.db(), { kind: 'restore', dryRun: false });
    expect(restore?.window).toEqual({ inside: false, windows: [closed], overrideReason: 'wrong cleanup, users complained' });
  });

  it('with no run of the task to restore: exit 1 and why, nothing written', async () => {
    await runCli(['run', 'presence-cleanup', '--uri', database.uri(), '--dry-run'], { env });
    const result = await restoreLast(['--yes']);
    expect(result).toMatchObject({
      code: 1,
      stderr: 'restore-last-run: stopped at history (exit 1): no run of presence-cleanup with a backup in the audit of this target: nothing to restore\n',
    });
    expect(await writingRuns(database.db())).toEqual([]);
  });

  it('bad input is one line and exit 2', async () => {
    const noTask = await runRunbook('restore-last-run', ['--uri', database.uri()], { env });
    expect(noTask).toMatchObject({ code: 2, stdout: '', stderr: 'restore-last-run: --task is required (see --help)\n' });
    const noTarget = await runRunbook('restore-last-run', ['--task', 'presence-cleanup'], { env });
    expect(noTarget).toMatchObject({ code: 2, stdout: '', stderr: 'restore-last-run: no target: pass --uri <uri> or set MONGODB_URI\n' });
    const badTolerance = await restoreLast(['--tolerance', 'some']);
    expect(badTolerance).toMatchObject({ code: 2, stdout: '', stderr: 'restore-last-run: --tolerance must be a count or a percentage (10 or 5%), got "some"\n' });
  });
});
