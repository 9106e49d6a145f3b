import type { RunRecord, RunStatus } from '../engine/run-record.ts';
import type { TaskState } from '../engine/task-states.ts';
import type { presenceStatusJson } from '../views/presence-status.ts';
import type { PresenceSample } from '../presence/samples.ts';

/**
 * What the dashboard reads, and all it can: no function here writes to the
 * users' data. The web side knows nothing of the driver or the CLI; the
 * `dashboard` command provides these from its session.
 */
export interface DashboardData {
  /** The target as every page names it: the URI redacted (no credential), and the database. */
  readonly target: { uri: string; database: string };
  /** The tasks' ids, for the Runs page's filter. */
  readonly taskIds: readonly string[];
  /** What `presence status --json` prints, measured now (or a few seconds ago, see the command's cache). */
  presence(): Promise<PresenceReport>;
  /** When the oldest sample kept was taken; undefined when there is none yet. */
  oldestSample(): Promise<Date | undefined>;
  /** The recorded samples from `since` on, oldest first, at most `maxPoints`. */
  samples(since: Date, until: Date, maxPoints: number): Promise<PresenceSample[]>;
  runs(query: RunsQuery): Promise<RunRecord[]>;
  run(runId: string): Promise<RunRecord | undefined>;
  tasks(): Promise<TaskState[]>;
}

/** The target did not answer (unreachable, a refused privilege, a timeout): the page says so, the process goes on. */
export class DataUnavailable extends Error {}

export interface RunsQuery {
  taskId?: string;
  status?: RunStatus;
  /** Started strictly before: the next page. */
  before?: Date;
  limit: number;
}

export interface PresenceReport {
  /** Exactly the object `presence status --json` prints. */
  status: StatusJson;
  /** What became of this measurement's sample: kept as the minute's, already there, or why not. */
  sampleNote: string;
  /** The samples' cost, for the page to say it. */
  samples: { retentionDays: number; bytesPerDay: number };
}

/** Exactly what `presence status --json` prints: one function builds both. */
export type StatusJson = ReturnType<typeof presenceStatusJson>;
