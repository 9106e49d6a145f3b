import { PresenceTaskId } from '../../presence/task-ids.ts';
import { exitCodeOfRecord } from '../exit-codes.ts';
import { loadPresenceTask, type PresenceOptions } from '../presence-options.ts';
import { runLoadedTask, type RunOptions } from './run.ts';

export type CleanupOptions = RunOptions & PresenceOptions;

/** `presence cleanup`: everyone online set offline, as the audited task presence-cleanup. */
export async function cleanupCommand(options: CleanupOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { tasks, loaded, params } = await loadPresenceTask(PresenceTaskId.cleanup, options, env);
  const record = await runLoadedTask(tasks, loaded, params, options);
  return record === undefined ? 0 : exitCodeOfRecord(record);
}
