import type { RunStore } from '../engine/ports.ts';
import { activeStatuses, RunKind, type RunRecord } from '../engine/run-record.ts';
import { PresenceTaskId } from './task-ids.ts';

const LOOKBACK = 20;

/** The latest presence runs of every kind, dry runs included, newest first. */
export async function recentPresenceRuns(store: RunStore, limit: number): Promise<RunRecord[]> {
  const perTask = await Promise.all(Object.values(PresenceTaskId).map((taskId) => store.list({ taskId, limit })));
  return perTask
    .flat()
    .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime())
    .slice(0, limit);
}

/**
 * Per task, the task's own last run that was meant to write (not a dry run) and has finished: what monitoring
 * alerts on. A restore is left out: it undoes a run rather than doing the task's work, so taking it as the last
 * run would report 0 written and hide when the task last really ran.
 */
export async function lastCompletedRuns(store: RunStore): Promise<Map<PresenceTaskId, RunRecord>> {
  const found = new Map<PresenceTaskId, RunRecord>();
  for (const taskId of Object.values(PresenceTaskId)) {
    const runs = await store.list({ taskId, limit: LOOKBACK });
    const last = runs.find((run) => run.kind === RunKind.run && !run.dryRun && !activeStatuses.includes(run.status));
    if (last) found.set(taskId, last);
  }
  return found;
}
