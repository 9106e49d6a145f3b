import { openBackup } from '../../engine/backup.ts';
import { TaskMigrator } from '../../engine/migrator.ts';
import { restoreRun } from '../../engine/runner.ts';
import { loadTasks } from '../../engine/task-catalog.ts';
import { migrationName } from '../../engine/task.ts';
import { exitCodeOfRecord } from '../exit-codes.ts';
import { outcomeLines } from '../render/format.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { createRunView } from '../render/run-view.ts';
import { localPaths, newRunId, openSession, operator, targetOf } from '../session.ts';
import { abortOnSignals } from '../signals.ts';
import type { RunOptions } from './run.ts';

export interface RestoreOptions extends RunOptions {
  force?: boolean;
}

/** `presence restore <runId>`: puts a run's pre-images back (umzug's `down`). */
export async function restoreCommand(runId: string, options: RestoreOptions): Promise<number> {
  const paths = localPaths(options);
  const target = targetOf(options);
  // Refuses an incomplete or corrupt backup before connecting: nothing is written.
  const manifest = await openBackup(paths.backupDir, runId);
  const tasks = await loadTasks(paths.tasksDir);
  const mode = outputMode(options.json);
  const view = createRunView(mode);
  const interrupt = abortOnSignals();
  try {
    const record = await view.show(async () => {
      const session = await openSession(target, options, view);
      try {
        const now = new Date();
        const migrator = new TaskMigrator(tasks, session.store);
        return await migrator.down(migrationName(manifest.task), () =>
          restoreRun({ db: session.connection.db, store: session.store, lock: session.lock, observer: view }, manifest, {
            runId: newRunId(now),
            operator: operator(),
            target: { uri: target.uri, database: target.database },
            dryRun: options.dryRun === true,
            backupDir: paths.backupDir,
            batchSize: options.batchSize,
            now,
            signal: interrupt.signal,
            restoreOf: runId,
            force: options.force === true,
          }),
        );
      } finally {
        await session.close();
      }
    });
    if (mode === 'json') printJson(record);
    else printLines(outcomeLines(record));
    return exitCodeOfRecord(record);
  } finally {
    interrupt.dispose();
  }
}
