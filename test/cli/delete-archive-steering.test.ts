import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RestoreRecord, RunRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, runCli, tempStateDir, type CliResult } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { ARCHIVE, COLLECTION, countGoing, FIXTURES, REMOVAL_KINDS, seedSessions, snapshot, type RemovalKind, type Snapshot } from '../support/marked-documents.ts';
import { reachedStep } from '../support/records.ts';
import { until } from '../support/until.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { lockOf } from '../faults/faults.ts';

/**
 * A purge and an archive steered from other processes, stopped at their window's end, and killed with SIGKILL then
 * continued: each command is its own `presence` process that only shares the target database with the runner.
 */
const database = useTestDatabase('delarchsteer');
const GOING = 40;
const STAYING = 6;
/** Short, so the heartbeat (a quarter of it) visibly moves the lock's expiry during a pause. */
const env = { PRESENCE_LOCK_TTL_MS: '2000' };
let stateDir: string;

beforeEach(async () => {
  stateDir = tempStateDir();
  await seedSessions(database.db(), GOING, STAYING);
});

/** The CLI with this file's target, state directory and fixture tasks (a resume finds its task there too). */
function cli(args: string[], onStdout?: (text: string, child: ChildProcess) => void): Promise<CliResult> {
  return runCli([...args, '--uri', database.uri(), '--state-dir', stateDir, '--tasks-dir', FIXTURES], { env, timeoutMs: 120_000, ...(onStdout ? { onStdout } : {}) });
}

/** `rate` documents a second in batches of 2: at 4, about ten seconds of writes. */
function slowRun(kind: RemovalKind, extra: string[] = [], rate = 4): Promise<CliResult> {
  return cli(['run', kind.task, '--rate', String(rate), '--batch-size', '2', '--json', ...extra]);
}

/** A slow run in plain lines (they come as it goes, so the process is known early), killed with SIGKILL past its checkpoint at 8. */
async function killedMidApply(kind: RemovalKind): Promise<string> {
  let child: ChildProcess | undefined;
  const killed = cli(['run', kind.task, '--rate', '4', '--batch-size', '2'], (_text, process) => (child = process));
  const runId = await runPast(8, 'progress.checkpoint.entries');
  child!.kill('SIGKILL');
  expect((await killed).signal).toBe('SIGKILL');
  return runId;
}

/** Another operator's command, from its own process and state directory. */
function steer(action: string, runId: string): Promise<CliResult> {
  return runCli([action, runId, '--uri', database.uri(), '--state-dir', tempStateDir()], { env });
}

const ARCHIVE_KIND = REMOVAL_KINDS.find((kind) => kind.kind === 'archive')!;
const runs = () => database.db().collection<RunRecord>('maintenance_runs');
const statusOf = async (runId: string) => (await runs().findOne({ _id: runId }))?.status;
const archived = () => database.db().collection(ARCHIVE).countDocuments();

/** The id of the run once its record shows `progress.done` (or its checkpoint) at `atLeast`. */
async function runPast(atLeast: number, field: 'progress.done' | 'progress.checkpoint.entries' = 'progress.done'): Promise<string> {
  let id: string | undefined;
  await until(`the run's ${field} reaches ${atLeast}`, async () => {
    id = (await runs().findOne({ status: 'running', [field]: { $gte: atLeast } }))?._id;
    return id !== undefined;
  });
  return id!;
}

/** After an archive killed at any point, each seeded document is in the source, the archive, or both: never in neither. */
async function expectNoneLost(): Promise<void> {
  const ids = new Set<string>();
  for (const name of [COLLECTION, ARCHIVE]) {
    for (const { _id } of await database.db().collection<{ _id: string }>(name).find({}, { projection: { _id: 1 } }).toArray()) ids.add(_id);
  }
  expect(ids.size).toBe(GOING + STAYING);
}

/** Where a run that wrote `written` documents leaves them: gone from the source, and in the archive for an archive. */
async function expectWritten(kind: RemovalKind, written: number): Promise<void> {
  expect(await countGoing(database.db())).toBe(GOING - written);
  expect(await archived()).toBe(kind.kind === 'archive' ? written : 0);
}

/** `HH:MM:SS` in UTC, `seconds` from now. */
/** What one uninterrupted run leaves (`expected`), then the collections seeded again as before it (`pristine`). */
async function wholeRunThenSeededAgain(kind: RemovalKind): Promise<{ expected: Snapshot; pristine: Snapshot }> {
  const whole = await cli(['run', kind.task, '--batch-size', '2', '--json']);
  expect(whole.code, whole.stderr).toBe(0);
  const expected = await snapshot(database.db());
  await seedSessions(database.db(), GOING, STAYING);
  return { expected, pristine: await snapshot(database.db()) };
}

function utcClock(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString().slice(11, 19);
}

describe.each(REMOVAL_KINDS)('a $kind run ($task) steered from other processes', (kind) => {
  it('pause: no write while paused, the lock kept alive; resume: the run completes', async () => {
    const running = slowRun(kind);
    const runId = await runPast(4);

    const paused = await steer('pause', runId);
    expect(paused.code, paused.stderr).toBe(0);
    await until('the run is paused', async () => (await statusOf(runId)) === 'paused');
    const before = { snapshot: await snapshot(database.db()), lock: await lockOf(database.db()) };
    await sleep(3000);
    expect(await snapshot(database.db())).toEqual(before.snapshot);
    const lock = await lockOf(database.db());
    expect(lock?.runId).toBe(runId);
    expect(lock!.expiresAt.getTime()).toBeGreaterThan(before.lock!.expiresAt.getTime() + 1000);
    expect((await runs().findOne({ _id: runId }))?.progress).toMatchObject({ state: 'paused', done: GOING - (await countGoing(database.db())) });

    const resumed = await steer('resume', runId);
    expect(resumed.code, resumed.stderr).toBe(0);
    const result = await running;
    expect(result.code, result.stderr).toBe(0);
    const ended = parseJson<TaskRunRecord>(result.stdout);
    expect(ended.status).toBe('succeeded');
    expect(reachedStep('apply', ended.result)).toMatchObject({ written: GOING, skipped: 0, remaining: 0 });
    expect((await runs().findOne({ _id: runId }))?.requests?.map((request) => request.action)).toEqual(['pause', 'resume']);
    await expectWritten(kind, GOING);
  });

  it('cancel: the run stops after its batch, cancelled with counts that add up, and its backup restores both collections byte for byte', async () => {
    const pristine = await snapshot(database.db());
    const running = slowRun(kind);
    const runId = await runPast(4);

    const cancelled = await steer('cancel', runId);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    const result = await running;
    expect(result.code).toBe(1);
    const ended = parseJson<TaskRunRecord>(result.stdout);
    expect(ended.status).toBe('cancelled');
    const counts = reachedStep('apply', ended.result);
    expect(counts.written).toBeGreaterThan(0);
    expect(counts.remaining).toBeGreaterThan(0);
    expect(counts.written + counts.skipped + counts.failed + counts.remaining).toBe(GOING);
    await expectWritten(kind, counts.written);
    expect(await statusOf(runId)).toBe('cancelled');

    const restored = await cli(['restore', runId, '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(reachedStep('restore', parseJson<RestoreRecord>(restored.stdout).restore)).toMatchObject({ restored: counts.written, conflicts: 0 });
    expect(await snapshot(database.db())).toEqual(pristine);
  });

  it("with --at-window-end stop, stops at its window's end, interrupted with its counts, and is resumed in the next window only", async () => {
    // Closing about ten seconds into a run of twenty seconds of writes (2 documents a second).
    const window = `${utcClock(-60)}-${utcClock(12)} UTC`;
    const run = await slowRun(kind, ['--window', window, '--at-window-end', 'stop'], 2);
    expect(run.code, run.stderr).toBe(1);
    const record = parseJson<TaskRunRecord>(run.stdout);
    expect(record).toMatchObject({ status: 'interrupted', stoppedBy: { limit: 'window-ended' } });
    const counts = reachedStep('apply', record.result);
    expect(counts.written).toBeGreaterThan(0);
    expect(counts.written).toBeLessThan(GOING);
    expect(counts.remaining).toBe(GOING - counts.written);
    await expectWritten(kind, counts.written);

    const outside = await cli(['resume', record._id, '--json', '--window', window]);
    expect(outside.code, outside.stderr).toBe(4);
    await expectWritten(kind, counts.written);

    const resumed = await cli(['resume', record._id, '--json', '--window', '00:00-24:00 UTC']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(parseJson<TaskRunRecord>(resumed.stdout)).toMatchObject({ status: 'succeeded', continues: { runId: record._id } });
    await expectWritten(kind, GOING);
  }, 120_000);

  it('kill -9 mid-apply, then resume: both collections are what one uninterrupted run leaves, and the counts add up', async () => {
    const { expected, pristine } = await wholeRunThenSeededAgain(kind);

    const runId = await killedMidApply(kind);
    const left = await runs().findOne({ _id: runId });
    expect(left?.status).toBe('running');
    expect(await countGoing(database.db())).toBeLessThan(GOING);
    if (kind.kind === 'archive') await expectNoneLost();

    const resumed = await cli(['resume', runId, '--batch-size', '2', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const continuation = parseJson<TaskRunRecord>(resumed.stdout);
    expect(continuation).toMatchObject({ status: 'succeeded', continues: { runId, checkpoint: left!.progress!.checkpoint.entries } });
    expect(reachedStep('apply', continuation.result)).toEqual({ state: 'done', planned: GOING, written: GOING, skipped: 0, failed: 0, remaining: 0 });
    expect(reachedStep('verify', continuation.verify).inTargetState).toBe(GOING);
    expect(await statusOf(runId)).toBe('interrupted');
    expect(await snapshot(database.db())).toEqual(expected);

    // The continuation's id undoes the whole run, both parts, from the one backup.
    const restored = await cli(['restore', continuation._id, '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(reachedStep('restore', parseJson<RestoreRecord>(restored.stdout).restore)).toMatchObject({ planned: GOING, restored: GOING, conflicts: 0 });
    expect(await snapshot(database.db())).toEqual(pristine);
  });

  it('kill -9 mid-apply, then restore the killed run: both collections come back byte for byte', async () => {
    const pristine = await snapshot(database.db());
    const runId = await killedMidApply(kind);
    const written = GOING - (await countGoing(database.db()));
    expect(written).toBeGreaterThan(0);

    const restored = await cli(['restore', runId, '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(parseJson<RestoreRecord>(restored.stdout)).toMatchObject({ restoreOf: runId, status: 'succeeded' });
    expect(reachedStep('restore', parseJson<RestoreRecord>(restored.stdout).restore)).toMatchObject({ planned: GOING, conflicts: 0 });
    expect(await snapshot(database.db())).toEqual(pristine);
  });
});

/**
 * An archive run through a loopback proxy, killed with SIGKILL as its `nth` delete from the source goes out: the
 * network stalls first, so that delete never reaches the server while the batch's copies are confirmed. Its run id.
 */
async function archiveKilledBeforeSourceDelete(nth: number): Promise<string> {
  const proxy = await startTcpProxy(database.uri());
  let child: ChildProcess | undefined;
  let deletes = 0;
  const stop = proxy.onCommand((seen) => {
    if (seen.command !== 'delete' || seen.collection !== COLLECTION || child === undefined) return;
    if (++deletes !== nth) return;
    proxy.set('stall');
    child.kill('SIGKILL');
  });
  try {
    const killed = await runCli(['run', ARCHIVE_KIND.task, '--batch-size', '2', '--uri', proxy.uri, '--state-dir', stateDir, '--tasks-dir', FIXTURES], {
      env,
      timeoutMs: 120_000,
      onStdout: (_text, process) => (child = process),
    });
    expect(killed.signal, killed.stdout).toBe('SIGKILL');
  } finally {
    stop();
    await proxy.close();
  }
  return (await runs().findOne({ status: 'running' }))!._id;
}

describe('an archive killed between a batch\'s copy and its delete from the source', () => {
  it('leaves that batch in both collections, none in neither; resume ends as one whole run, restore as before it', async () => {
    const { expected, pristine } = await wholeRunThenSeededAgain(ARCHIVE_KIND);

    const runId = await archiveKilledBeforeSourceDelete(3);
    const inSource = new Set((await database.db().collection<{ _id: string }>(COLLECTION).find().toArray()).map((document) => document._id));
    const inBoth = (await database.db().collection<{ _id: string }>(ARCHIVE).find().toArray()).filter((document) => inSource.has(document._id));
    expect(inBoth).toHaveLength(2);
    await expectNoneLost();

    const resumed = await cli(['resume', runId, '--batch-size', '2', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const continuation = parseJson<TaskRunRecord>(resumed.stdout);
    expect(reachedStep('apply', continuation.result)).toMatchObject({ planned: GOING, written: GOING, skipped: 0, failed: 0 });
    expect(await snapshot(database.db())).toEqual(expected);

    const restored = await cli(['restore', continuation._id, '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await snapshot(database.db())).toEqual(pristine);
  });

  it('restored without a resume, gives both collections back byte for byte', async () => {
    const pristine = await snapshot(database.db());
    const runId = await archiveKilledBeforeSourceDelete(2);
    const restored = await cli(['restore', runId, '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(reachedStep('restore', parseJson<RestoreRecord>(restored.stdout).restore)).toMatchObject({ planned: GOING, conflicts: 0 });
    expect(await snapshot(database.db())).toEqual(pristine);
  });
});
