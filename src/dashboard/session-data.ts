import { isDatabaseFailure, type Connection } from '../db/connect.ts';
import type { Target } from '../db/target.ts';
import { MaintenanceError } from '../engine/errors.ts';
import type { RunStore } from '../engine/ports.ts';
import type { LoadedTask } from '../engine/task.ts';
import { taskStates } from '../engine/task-states.ts';
import { DataUnavailable, type DashboardData, type PresenceReport } from './data.ts';
import { recentPresenceRuns } from '../presence/last-runs.ts';
import { measurePresence, type PresenceMeasure } from '../presence/measure.ts';
import { bytesPerDay, oldestSampleAt, readSamples, recordSample, sampleOf, type SampleOutcome } from '../presence/samples.ts';
import { presenceStatusJson } from '../views/presence-status.ts';

/** What `presence status` counts with, and how long the samples are kept. */
export interface DashboardMeasure extends PresenceMeasure {
  retentionDays: number;
}

/** Several browser tabs refreshing at once cost the target one measurement, not one each. */
const REUSE_MEASUREMENT_MS = 2000;
const RECENT_RUNS = 5;

/** What the command that serves the dashboard has open: its target, the connection to it, the run records. */
export interface DashboardSession {
  target: Target;
  connection: Connection;
  store: RunStore;
}

/**
 * The dashboard's reads, from the command's session: the same functions as
 * `presence status`, `presence runs` and `presence tasks`. The only write is
 * the minute's presence sample, to the tool's own collection.
 */
export function sessionData(session: DashboardSession, tasks: readonly LoadedTask[], measure: DashboardMeasure): DashboardData {
  const db = session.connection.db;
  let latest: { at: number; report: Promise<PresenceReport> } | undefined;

  const report = async (): Promise<PresenceReport> => {
    const now = new Date();
    const { figures, connected } = await measurePresence(db, measure, now);
    const runs = await recentPresenceRuns(session.store, RECENT_RUNS);
    const outcome = await recordSample(db, sampleOf(figures, connected), measure.retentionDays);
    return {
      status: presenceStatusJson(measure.model, figures, runs, connected),
      sampleNote: sampleNote(outcome),
      samples: { retentionDays: measure.retentionDays, bytesPerDay: bytesPerDay() },
    };
  };

  return {
    target: { uri: session.target.uri, database: session.target.database },
    taskIds: tasks.map((loaded) => loaded.task.id),
    presence: () =>
      unavailableOnDatabaseError(() => {
        if (latest === undefined || Date.now() - latest.at > REUSE_MEASUREMENT_MS) {
          const measured = report();
          latest = { at: Date.now(), report: measured };
          // A failed measurement is not kept: the next refresh asks again.
          measured.catch(() => (latest = undefined));
        }
        return latest.report;
      }),
    oldestSample: () => unavailableOnDatabaseError(() => oldestSampleAt(db, measure.model.collection)),
    samples: (since, until, maxPoints) => unavailableOnDatabaseError(() => readSamples(db, measure.model.collection, since, until, maxPoints)),
    runs: (query) =>
      unavailableOnDatabaseError(() =>
        session.store.list({ taskId: query.taskId, status: query.status, before: query.before, limit: query.limit }),
      ),
    run: (runId) => unavailableOnDatabaseError(() => session.store.get(runId)),
    tasks: () => unavailableOnDatabaseError(() => taskStates(tasks, session.store)),
  };
}

async function unavailableOnDatabaseError<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    // A lost connection, a refused privilege, a collection dropped meanwhile: the target's state, not the dashboard's bug.
    if (isDatabaseFailure(error) || error instanceof MaintenanceError) throw new DataUnavailable(error.message, { cause: error });
    throw error;
  }
}

/** What became of this refresh's sample, as the Presence page says it. */
function sampleNote(outcome: SampleOutcome): string {
  switch (outcome.state) {
    case 'recorded':
      return outcome.notPruned === undefined
        ? "kept as this minute's sample"
        : `kept as this minute's sample, but those past the retention not pruned, so they pile up (${outcome.notPruned})`;
    case 'already-recorded':
      return "this minute's sample was already recorded";
    case 'off':
      return 'none recorded: samples are off (retention 0 days)';
    case 'not-recorded':
      return `not recorded (${outcome.reason})`;
  }
}
