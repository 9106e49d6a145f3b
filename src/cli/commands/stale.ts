import { PresenceTaskId } from '../../presence/task-ids.ts';
import { loadPresenceTask, type PresenceOptions } from '../presence-options.ts';
import { runOnceOrScheduled, type ScheduleOptions } from '../presence-schedule.ts';
import { runLoadedTask } from './run.ts';

export type StaleOptions = ScheduleOptions & PresenceOptions;

/** `presence stale`: online users inactive longer than --minutes set offline, once or on a schedule. */
export async function staleCommand(options: StaleOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const prepared = await loadPresenceTask(PresenceTaskId.stale, options, env);
  const { tasks, loaded, params } = prepared;
  const summary = `stale (users inactive > ${params.minutes} min)`;
  return runOnceOrScheduled(prepared, options, summary, () => runLoadedTask(tasks, loaded, params, options), env);
}
