import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { openBackup, readBackupBatches } from '../../src/engine/backup.ts';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RestoreRecord, RunRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { reachedStep } from '../support/records.ts';
import { until } from '../support/until.ts';
import { buildUsers } from '../support/users.ts';
import { oneCleanLine } from '../faults/faults.ts';

/** A run killed with SIGKILL mid-apply, continued by another process: the collection ends as one whole run leaves it. */
const database = useTestDatabase('resume');
const STALE = 40;
const SEEDED_AT = new Date();
const env = { PRESENCE_LOCK_TTL_MS: '2000' };
let stateDir: string;

/** The same users every time: fixed ids and dates, so two seeds give byte-identical collections. */
async function seed(): Promise<void> {
  await database.db().dropDatabase();
  const users = buildUsers(SEEDED_AT, [
    { count: STALE, id: (n) => `stale-${String(n).padStart(3, '0')}`, online: () => true, minutesAgo: (n) => 120 + n },
    { count: 10, id: (n) => `active-${n}`, online: () => true, minutesAgo: () => 1 },
  ]);
  await database.db().collection('users').insertMany(users);
}

function stale(...args: string[]) {
  return runCli(['stale', '--minutes', '30', '--uri', database.uri(), '--state-dir', stateDir, '--batch-size', '2', ...args], {
    env,
    timeoutMs: 120_000,
  });
}

const runs = () => database.db().collection<RunRecord>('maintenance_runs');
const offline = () => database.db().collection('users').countDocuments({ isOnline: false });

/** Starts a slow run, SIGKILLs it once its record shows a checkpoint past 8 entries; its run id. */
async function killedMidApply(): Promise<string> {
  let child: ChildProcess | undefined;
  const killed = runCli(
    ['stale', '--minutes', '30', '--uri', database.uri(), '--state-dir', stateDir, '--batch-size', '2', '--rate', '4'],
    { env, timeoutMs: 120_000, onStdout: (_text, process) => (child = process) },
  );
  let runId: string | undefined;
  await until('the run has written past its first checkpoint', async () => {
    const record = await runs().findOne({ status: 'running', 'progress.checkpoint.entries': { $gte: 8 } });
    runId = record?._id;
    return runId !== undefined;
  });
  child!.kill('SIGKILL');
  expect((await killed).signal).toBe('SIGKILL');
  return runId!;
}

/** The collection as one uninterrupted run leaves it; the seed is then put back for the run under test. */
async function wholeRunChecksum(): Promise<string> {
  await seed();
  const whole = await stale();
  expect(whole.code, whole.stderr).toBe(0);
  const checksum = await collectionChecksum(database.db(), 'users');
  await seed();
  return checksum;
}

beforeEach(() => {
  stateDir = tempStateDir();
});

describe('resume after a crash', () => {
  it('kill -9 mid-apply, then resume: the collection is what one uninterrupted run gives, and the counts add up', async () => {
    const expected = await wholeRunChecksum();
    const runId = await killedMidApply();

    const left = await runs().findOne({ _id: runId });
    expect(left?.status).toBe('running');
    const listed = await runCli(['runs', '--uri', database.uri(), '--json'], { env });
    expect(parseJson<Array<{ runId: string; runnerAlive: boolean }>>(listed.stdout)).toMatchObject([{ runId, runnerAlive: false }]);
    const writtenBeforeKill = await offline();
    expect(writtenBeforeKill).toBeGreaterThanOrEqual(left!.progress!.checkpoint.entries);
    expect(writtenBeforeKill).toBeLessThan(STALE);

    const resumed = await runCli(['resume', runId, '--uri', database.uri(), '--state-dir', stateDir, '--batch-size', '2', '--json'], { env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const continuation = parseJson<TaskRunRecord>(resumed.stdout);
    expect(continuation._id).not.toBe(runId);
    expect(continuation.continues).toEqual({ runId, checkpoint: left!.progress!.checkpoint.entries });
    expect(continuation.status).toBe('succeeded');
    expect(reachedStep('apply', continuation.result)).toEqual({ state: 'done', planned: STALE, written: STALE, skipped: 0, failed: 0, remaining: 0 });
    expect(reachedStep('verify', continuation.verify).inTargetState).toBe(STALE);
    expect(continuation.backup).toMatchObject({ path: expect.stringContaining(runId) });
    expect((await runs().findOne({ _id: runId }))?.status).toBe('interrupted');

    expect(await collectionChecksum(database.db(), 'users')).toBe(expected);

    // Continued once is enough: a second resume is refused, naming the continuation and how it ended.
    const runsBefore = await runs().countDocuments();
    const again = await runCli(['resume', runId, '--uri', database.uri(), '--state-dir', stateDir, '--batch-size', '2'], { env });
    expect(again.code).toBe(4);
    expect(oneCleanLine(again.stderr)).toBe(true);
    expect(again.stderr).toMatch(new RegExp(`cannot resume run ${runId}: it was already continued by run ${continuation._id}, which is succeeded$`, 'm'));
    expect(await runs().countDocuments()).toBe(runsBefore);
    expect(await collectionChecksum(database.db(), 'users')).toBe(expected);

    // The continuation's own id undoes the whole run, both parts, from the one backup.
    const restored = await runCli(['restore', continuation._id, '--uri', database.uri(), '--state-dir', stateDir, '--json'], { env });
    expect(restored.code, restored.stderr).toBe(0);
    const restore = parseJson<RestoreRecord>(restored.stdout);
    expect(restore).toMatchObject({ restoreOf: continuation._id, status: 'succeeded' });
    expect(reachedStep('restore', restore.restore)).toMatchObject({ planned: STALE, restored: STALE, conflicts: 0 });
    expect(await offline()).toBe(0);
  });

  it('a continuation killed in turn: resuming the first run names it, resuming it finishes the run, and restoring the last part undoes all', async () => {
    const expected = await wholeRunChecksum();
    const first = await killedMidApply();
    const firstCheckpoint = (await runs().findOne({ _id: first }))!.progress!.checkpoint.entries;

    // Its continuation, slow, killed in turn once it has written past where the first run stopped.
    let child: ChildProcess | undefined;
    const killed = runCli(['resume', first, '--uri', database.uri(), '--state-dir', stateDir, '--batch-size', '2', '--rate', '4'], {
      env,
      timeoutMs: 120_000,
      onStdout: (_text, process) => (child = process),
    });
    let second: string | undefined;
    await until('the continuation has written past its own first checkpoint', async () => {
      const record = await runs().findOne({ 'continues.runId': first, status: 'running', 'progress.checkpoint.entries': { $gte: firstCheckpoint + 4 } });
      second = record?._id;
      return second !== undefined;
    });
    child!.kill('SIGKILL');
    expect((await killed).signal).toBe('SIGKILL');

    const refused = await runCli(['resume', first, '--uri', database.uri(), '--state-dir', stateDir], { env });
    expect(refused.code).toBe(4);
    expect(oneCleanLine(refused.stderr)).toBe(true);
    expect(refused.stderr).toContain(`it was already continued by run ${second}, which is running: resume that run instead (presence resume ${second})`);

    const resumed = await runCli(['resume', second!, '--uri', database.uri(), '--state-dir', stateDir, '--batch-size', '2', '--json'], { env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const third = parseJson<TaskRunRecord>(resumed.stdout);
    expect(third.continues?.runId).toBe(second);
    expect(reachedStep('apply', third.result)).toMatchObject({ planned: STALE, written: STALE, skipped: 0, failed: 0, remaining: 0 });
    expect(await collectionChecksum(database.db(), 'users')).toBe(expected);

    const restored = await runCli(['restore', third._id, '--uri', database.uri(), '--state-dir', stateDir, '--json'], { env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await offline()).toBe(0);
  });

  it('a continuation tells to undo it by its own id', async () => {
    await seed();
    const runId = await killedMidApply();
    const resumed = await runCli(['resume', runId, '--uri', database.uri(), '--state-dir', stateDir], { env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const continuationId = /run (\d{8}T\d{6}Z-[0-9a-f]{6})$/m.exec(resumed.stdout)?.[1];
    expect(continuationId).not.toBe(runId);
    expect(resumed.stdout).toContain(`undo with: presence restore ${continuationId}`);
  });

  it('what the killed run settled before its checkpoint is not written again, even back in its pre-image', async () => {
    await seed();
    const runId = await killedMidApply();
    const manifest = await openBackup(join(stateDir, 'backups'), runId);
    const batches = readBackupBatches(join(stateDir, 'backups'), manifest, 1)[Symbol.asyncIterator]();
    const first = (await batches.next()).value![0]!;
    await batches.return?.(undefined);
    // Its user came back online after the killed run set it offline: the continuation must leave it so.
    await database.db().collection('users').updateOne({ _id: first._id as never }, { $set: { isOnline: true } });

    const resumed = await runCli(['resume', runId, '--uri', database.uri(), '--state-dir', stateDir, '--json'], { env });

    expect(resumed.code, resumed.stderr).toBe(0);
    const continuation = parseJson<TaskRunRecord>(resumed.stdout);
    expect(continuation.continues!.checkpoint).toBeGreaterThan(0);
    expect(reachedStep('apply', continuation.result)).toMatchObject({ planned: STALE, written: STALE - 1, skipped: 1, remaining: 0 });
    expect((await database.db().collection('users').findOne({ _id: first._id as never }))?.isOnline).toBe(true);
    expect(await offline()).toBe(STALE - 1);
  });

  it('a run that ended is not resumed: one line, exit 4, nothing written', async () => {
    await seed();
    const done = await stale('--json');
    const runId = parseJson<TaskRunRecord>(done.stdout)._id;
    const runsBefore = await runs().countDocuments();

    const resumed = await runCli(['resume', runId, '--uri', database.uri(), '--state-dir', stateDir], { env });

    expect(resumed.code).toBe(4);
    expect(oneCleanLine(resumed.stderr)).toBe(true);
    expect(resumed.stderr).toMatch(new RegExp(`cannot resume run ${runId}: it is succeeded`));
    expect(await runs().countDocuments()).toBe(runsBefore);
  });
});
