import { openBackup } from '../../engine/backup.ts';
import { RefusedError, SafetyRule, UsageError } from '../../engine/errors.ts';
import { TaskMigrator } from '../../engine/migrator.ts';
import { RunKind, RunStatus, StepState, SteerAction, type RunRecord, type TaskRunRecord } from '../../engine/run-record.ts';
import { continueRun } from '../../engine/runner.ts';
import { loadTasks } from '../../engine/task-catalog.ts';
import { migrationName } from '../../engine/task.ts';
import { backupRunOf } from '../continuations.ts';
import { exitCodeOfRecord } from '../exit-codes.ts';
import { outcomeLines } from '../../views/format.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { localPaths, openSession, targetOf } from '../session.ts';
import { withWriteContext, type RunOptions } from './run.ts';
import { askRun } from './steer.ts';

/** A run that stopped with its runner gone: killed (still `running` or `paused` in its record) or interrupted. */
const CONTINUABLE: readonly RunStatus[] = [RunStatus.running, RunStatus.paused, RunStatus.interrupted];

/**
 * `presence resume <runId>`: a paused run whose runner is alive is asked to write again; a run whose runner is
 * gone (its lock expired or its process gone) is continued from its backup by this process.
 */
export async function resumeCommand(runId: string, options: RunOptions): Promise<number> {
  const session = await openSession(targetOf(options), options);
  let stopped: TaskRunRecord;
  let backupRun: string;
  try {
    const record = await session.store.get(runId);
    if (record === undefined) throw new UsageError(`no run ${runId} in this database (see \`presence runs\` or \`presence history\`)`);
    const holder = await session.lock.liveHolder();
    if (holder?.runId === runId || !continuable(record)) return await askRun(session, SteerAction.resume, runId, options);
    const continuation = await session.store.continuationOf(runId);
    if (continuation !== undefined) throw continuedAlready(runId, continuation);
    stopped = record;
    backupRun = await backupRunOf(runId, (id) => session.store.get(id));
  } finally {
    await session.close();
  }
  return continueStopped(stopped, backupRun, options);
}

/** A second continuation would write the same backup again over the first one's work: say where the run went on. */
function continuedAlready(runId: string, continuation: TaskRunRecord): RefusedError {
  const next = CONTINUABLE.includes(continuation.status) ? `: resume that run instead (presence resume ${continuation._id})` : '';
  return new RefusedError(`cannot resume run ${runId}: it was already continued by run ${continuation._id}, which is ${continuation.status}${next}`, SafetyRule.runStatus);
}

function continuable(record: RunRecord): record is TaskRunRecord {
  return record.kind === RunKind.run && !record.dryRun && record.backup.state === StepState.done && CONTINUABLE.includes(record.status);
}

async function continueStopped(stopped: TaskRunRecord, backupRun: string, options: RunOptions): Promise<number> {
  const paths = localPaths(options);
  // Refuses a backup that is missing on this host, incomplete or corrupt before anything is written.
  const manifest = await openBackup(paths.backupDir, backupRun);
  const tasks = await loadTasks(paths.tasksDir);
  const loaded = tasks.find((task) => migrationName(task.task) === stopped.migration);
  if (loaded === undefined) {
    throw new UsageError(`run ${stopped._id} was of ${stopped.migration}, no longer in the task list: restore it or run the task again`);
  }
  const record = await withWriteContext(tasks, { ...options, dryRun: false }, ({ session, deps, settings }) =>
    new TaskMigrator(tasks, session.store).up(loaded, () => continueRun(deps, stopped, manifest, settings)),
  );
  if (record === undefined) {
    printLines([`${stopped.migration} is a once task and is already applied: nothing to continue`]);
    return 0;
  }
  if (outputMode(options.json) === 'json') printJson(record);
  else printLines(outcomeLines(record));
  return exitCodeOfRecord(record);
}
