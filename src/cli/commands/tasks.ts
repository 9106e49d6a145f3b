import { loadTasks } from '../../engine/task-catalog.ts';
import { taskStates } from '../../engine/task-states.ts';
import { table } from '../../views/format.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { localPaths, openSession, targetOf, type TargetOptions } from '../session.ts';

/** `presence tasks`: every task with its version, mode, state and drift. */
export async function tasksCommand(options: TargetOptions): Promise<number> {
  const paths = localPaths(options);
  const tasks = await loadTasks(paths.tasksDir);
  const session = await openSession(targetOf(options), options);
  try {
    const rows = await taskStates(tasks, session.store);
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
