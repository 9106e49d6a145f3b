import { AuditFile } from '../../db/audit-file.ts';
import { openBackup } from '../../engine/backup.ts';
import { TaskMigrator } from '../../engine/migrator.ts';
import { restoreRun } from '../../engine/runner.ts';
import { loadTasks } from '../../engine/task-catalog.ts';
import { migrationName } from '../../engine/task.ts';
import { backupRunOf } from '../continuations.ts';
import { exitCodeOfRecord } from '../exit-codes.ts';
import { outcomeLines } from '../../views/format.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { localPaths } from '../session.ts';
import { withWriteContext, type RunOptions } from './run.ts';

export interface RestoreOptions extends RunOptions {
  force?: boolean;
}

/** `presence restore <runId>`: puts a run's pre-images back (umzug's `down`); of a continued run, both parts. */
export async function restoreCommand(runId: string, options: RestoreOptions): Promise<number> {
  const paths = localPaths(options);
  // A continuation ran on this host, from the backup of the run it continues: this host's audit says which. An audit
  // that cannot be read only leaves the run's own backup to look for, whose absence is then said.
  const audit = new AuditFile(paths.auditFile);
  const backupRun = await backupRunOf(runId, async (id) => (await audit.lastOf(id).catch(() => undefined))?.record);
  // Refuses an incomplete or corrupt backup before connecting: nothing is written.
  const manifest = await openBackup(paths.backupDir, backupRun);
  const tasks = await loadTasks(paths.tasksDir);
  const record = await withWriteContext(tasks, options, ({ session, deps, settings }) =>
    new TaskMigrator(tasks, session.store).down(migrationName(manifest.task), () =>
      restoreRun(deps, manifest, { ...settings, restoreOf: runId, force: options.force === true }),
    ),
  );
  if (record === undefined) throw new Error(`restore of run ${runId} did not run`);
  if (outputMode(options.json) === 'json') printJson(record);
  else printLines(outcomeLines(record));
  return exitCodeOfRecord(record);
}
