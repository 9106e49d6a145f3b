import { UsageError } from '../../engine/errors.ts';
import { CONNECTED_SERVICE } from '../../presence/connected.ts';
import { PresenceTaskId } from '../../presence/task-ids.ts';
import { connectedSourceFromOptions, loadPresenceTask, type ConnectedOptions, type PresenceOptions } from '../presence-options.ts';
import { runOnceOrScheduled, type ScheduleOptions } from '../presence-schedule.ts';
import { runLoadedTask } from './run.ts';

export type ReconcileOptions = ScheduleOptions & PresenceOptions & ConnectedOptions;

/**
 * `presence reconcile`: the ghosts (online in the database, not connected)
 * set offline, as the audited task presence-reconcile, once or on a schedule.
 * Each run reads the connected set afresh.
 */
export async function reconcileCommand(options: ReconcileOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const prepared = await loadPresenceTask(PresenceTaskId.reconcile, options, env);
  const source = await connectedSourceFromOptions(options, env);
  if (source === undefined) {
    throw new UsageError(
      'reconcile needs to know who is connected: --connected <url> (the app\'s endpoint, token in $PRESENCE_CONNECTED_TOKEN) or --connected-redis <uri>',
    );
  }
  const { tasks, loaded, params } = prepared;
  const summary = `reconcile with ${source.description} (ghosts inactive > ${params.graceSeconds} s${params.fixMissing ? ', missing set online' : ''})`;
  try {
    return await runOnceOrScheduled(
      prepared,
      options,
      summary,
      () => runLoadedTask(tasks, loaded, params, options, { [CONNECTED_SERVICE]: source }),
      env,
      source,
    );
  } finally {
    await source.close();
  }
}
