import { presenceParamsOf } from '../../presence/model.ts';
import { PresenceTaskId } from '../../presence/task-ids.ts';
import { exitCodeOfRecord } from '../exit-codes.ts';
import { presenceModelFromOptions, type PresenceOptions } from '../presence-options.ts';
import { preparePresenceTask, runPresenceTask } from '../presence-run.ts';
import type { RunOptions } from './run.ts';

export type CleanupOptions = RunOptions & PresenceOptions;

/** `presence cleanup`: everyone online set offline, as the audited task presence-cleanup. */
export async function cleanupCommand(options: CleanupOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const model = await presenceModelFromOptions(options, env);
  const prepared = await preparePresenceTask(PresenceTaskId.cleanup, presenceParamsOf(model), options);
  const record = await runPresenceTask(prepared, options);
  return record === undefined ? 0 : exitCodeOfRecord(record);
}
