import { TaskMigrator } from '../../engine/migrator.ts';
import { loadTasks } from '../../engine/task-catalog.ts';
import { migrationName, TaskMode } from '../../engine/task.ts';
import { table } from '../render/format.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { localPaths, openSession, targetOf, type TargetOptions } from '../session.ts';

/** `presence tasks`: every task with its version, mode, state and drift. */
export async function tasksCommand(options: TargetOptions): Promise<number> {
  const paths = localPaths(options);
  const tasks = await loadTasks(paths.tasksDir);
  const session = await openSession(targetOf(options), options);
  try {
    const migrator = new TaskMigrator(tasks, session.store);
    const pending = new Set(await migrator.pending());
    const rows = await Promise.all(
      tasks.map(async (loaded) => {
        const { task } = loaded;
        const last = await session.store.lastRun(task.id, task.version);
        const name = migrationName(task);
        const state = task.mode === TaskMode.repeatable ? 'repeatable' : pending.has(name) ? 'pending' : 'applied';
        return {
          task: task.id,
          version: task.version,
          mode: task.mode,
          state,
          lastRun: last ? { runId: last._id, status: last.status, startedAt: last.startedAt, dryRun: last.dryRun } : null,
          checksumDrift: last !== undefined && last.task.checksum !== loaded.checksum,
          description: task.description,
        };
      }),
    );
    if (outputMode(options.json) === 'json') {
      printJson(rows);
      return 0;
    }
    printLines(
      table(
        ['TASK', 'VERSION', 'MODE', 'STATE', 'LAST RUN', 'DESCRIPTION'],
        rows.map((row) => [
          row.task,
          String(row.version) + (row.checksumDrift ? ' (source changed: bump the version)' : ''),
          row.mode,
          row.state,
          row.lastRun ? `${row.lastRun.status}${row.lastRun.dryRun ? ' (dry run)' : ''} ${row.lastRun.startedAt.toISOString()}` : '-',
          row.description,
        ]),
      ),
    );
    return 0;
  } finally {
    await session.close();
  }
}
