import { TaskMigrator } from './migrator.ts';
import type { RunStore } from './ports.ts';
import type { RunStatus } from './run-record.ts';
import { migrationName, TaskMode, type LoadedTask } from './task.ts';

/** Where a task stands on a target: its version, whether it still has to run, and whether its source drifted. */
export interface TaskState {
  task: string;
  version: number;
  mode: TaskMode;
  state: 'repeatable' | 'pending' | 'applied';
  lastRun: { runId: string; status: RunStatus; startedAt: Date; dryRun: boolean } | null;
  /** The source changed since the last run of this version without a version bump. */
  checksumDrift: boolean;
  description: string;
}

/** Every task's state, in the catalog's order: pending from umzug's list, drift from the last run's checksum. */
export async function taskStates(tasks: readonly LoadedTask[], store: RunStore): Promise<TaskState[]> {
  const pending = new Set(await new TaskMigrator(tasks, store).pending());
  return Promise.all(
    tasks.map(async (loaded) => {
      const { task } = loaded;
      const last = await store.lastRun(task.id, task.version);
      return {
        task: task.id,
        version: task.version,
        mode: task.mode,
        state: task.mode === TaskMode.repeatable ? 'repeatable' : pending.has(migrationName(task)) ? 'pending' : 'applied',
        lastRun: last ? { runId: last._id, status: last.status, startedAt: last.startedAt, dryRun: last.dryRun } : null,
        checksumDrift: last !== undefined && last.task.checksum !== loaded.checksum,
        description: task.description,
      };
    }),
  );
}
