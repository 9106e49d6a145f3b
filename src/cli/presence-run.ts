import type { z } from 'zod';
import { UsageError } from '../engine/errors.ts';
import type { RunRecord } from '../engine/run-record.ts';
import { findTask, loadTasks } from '../engine/task-catalog.ts';
import type { LoadedTask } from '../engine/task.ts';
import type { PresenceTaskId } from '../presence/task-ids.ts';
import { runLoadedTask, type RunOptions } from './commands/run.ts';
import { localPaths } from './session.ts';

export interface PresenceTaskRun {
  tasks: LoadedTask[];
  loaded: LoadedTask;
  params: Record<string, unknown>;
}

/**
 * Loads a presence task and checks the parameters a command built for it
 * against the task's own schema, before anything connects.
 */
export async function preparePresenceTask(
  taskId: PresenceTaskId,
  params: Record<string, unknown>,
  options: RunOptions,
): Promise<PresenceTaskRun> {
  const tasks = await loadTasks(localPaths(options).tasksDir);
  const loaded = findTask(tasks, taskId);
  const parsed = (loaded.task.params as z.ZodObject).strict().safeParse(params);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`task ${taskId}: parameter "${issue.path.join('.')}": ${issue.message}`);
  }
  return { tasks, loaded, params: parsed.data as Record<string, unknown> };
}

/** One audited run, through the path `presence run` takes. */
export function runPresenceTask(prepared: PresenceTaskRun, options: RunOptions): Promise<RunRecord | undefined> {
  return runLoadedTask(prepared.tasks, prepared.loaded, prepared.params, options);
}
