import { assertWritableDir } from '../../engine/backup.ts';
import type { RunRecord } from '../../engine/run-record.ts';
import { AdaptivePace } from '../../engine/pace.ts';
import { runTask } from '../../engine/runner.ts';
import { findTask, loadTasks, parseParams } from '../../engine/task-catalog.ts';
import { migrationName, type LoadedTask } from '../../engine/task.ts';
import { TaskMigrator } from '../../engine/migrator.ts';
import { exitCodeOfRecord } from '../exit-codes.ts';
import { outcomeLines } from '../render/format.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { createRunView } from '../render/run-view.ts';
import { localPaths, newRunId, openSession, operator, targetOf, type TargetOptions } from '../session.ts';
import { abortOnSignals } from '../signals.ts';

export interface RunOptions extends TargetOptions {
  dryRun?: boolean;
  batchSize: number;
  rate?: number;
  param?: Record<string, string>;
}

/** `presence run <task>`: any task, through the one run path. */
export async function runCommand(taskId: string, options: RunOptions): Promise<number> {
  const paths = localPaths(options);
  const tasks = await loadTasks(paths.tasksDir);
  const loaded = findTask(tasks, taskId);
  const params = parseParams(loaded, options.param ?? {});
  const record = await runLoadedTask(tasks, loaded, params, options);
  return record === undefined ? 0 : exitCodeOfRecord(record);
}

/**
 * Validates everything it can before connecting (nothing is written on bad
 * input), then runs the task through umzug. Shared by every command that runs
 * a task (run, and the presence commands).
 */
export async function runLoadedTask(
  tasks: readonly LoadedTask[],
  loaded: LoadedTask,
  params: Record<string, unknown>,
  options: RunOptions,
): Promise<RunRecord | undefined> {
  const paths = localPaths(options);
  const target = targetOf(options);
  if (!options.dryRun) await assertWritableDir(paths.backupDir);
  const mode = outputMode(options.json);
  const view = createRunView(mode);
  const interrupt = abortOnSignals();
  try {
    const record = await view.show(async () => {
      const session = await openSession(target, options, view);
      try {
        const now = new Date();
        const migrator = new TaskMigrator(tasks, session.store);
        return await migrator.up(loaded, () =>
          runTask(
            { db: session.connection.db, store: session.store, lock: session.lock, observer: view },
            loaded,
            params,
            {
              runId: newRunId(now),
              operator: operator(),
              target: { uri: target.uri, database: target.database },
              dryRun: options.dryRun === true,
              backupDir: paths.backupDir,
              batchSize: options.batchSize,
              now,
              signal: interrupt.signal,
              pace: new AdaptivePace({ rate: options.rate, onNotice: (message) => view.notice(message) }),
            },
          ),
        );
      } finally {
        await session.close();
      }
    });
    report(record, loaded, mode);
    return record;
  } finally {
    interrupt.dispose();
  }
}

function report(record: RunRecord | undefined, loaded: LoadedTask, mode: ReturnType<typeof outputMode>): void {
  if (record === undefined) {
    const message = `${migrationName(loaded.task)} is a once task and is already applied: nothing to do`;
    if (mode === 'json') printJson({ status: 'already-applied', migration: migrationName(loaded.task), message });
    else printLines([message]);
    return;
  }
  if (mode === 'json') printJson(record);
  else printLines(outcomeLines(record));
}
