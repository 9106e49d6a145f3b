import type { PlanReport } from './plan.ts';
import type { LockTakeover, RunProgress, RunRecord, RunStatus, RunStep, SteerRequest, WriteTargeting } from './run-record.ts';
import type { TargetEnv } from './safety.ts';

/**
 * What the engine needs from outside, and who provides it: the run store and
 * the lock (src/db), the pace (src/engine/pace.ts, or a caller's own), the
 * onlooker (the CLI's renderer).
 */

/** Where run records live (the audit). Implemented in src/db. */
export interface RunStore {
  /** Writes the record as it starts (status `running`). */
  start(record: RunRecord): Promise<void>;
  /** Records progress on a running record (lock held, plan, backup). */
  update(runId: string, patch: Partial<RunRecord>): Promise<void>;
  /** Writes the final state; refuses a transition the status table does not allow. */
  complete(record: RunRecord): Promise<void>;
  /**
   * Closes `running` records whose runner is gone: those that held the lock (the caller holds it now), and
   * those that never got it and started before `startedBefore`. One whose end this host's own audit has (its
   * database went away before it could take it) is completed with that end; the others become `interrupted`.
   */
  closeStaleRuns(closedBy: string, startedBefore: Date): Promise<StaleRuns>;
  /** The latest completed record of a task version, to detect checksum drift. */
  lastRun(taskId: string, version: number): Promise<RunRecord | undefined>;
  get(runId: string): Promise<RunRecord | undefined>;
  /** umzug's `executed()`: `task@version` of `once` runs that count as applied. */
  appliedMigrations(): Promise<string[]>;
  /** umzug's log and unlog: a run counts as applied, or (restored) no longer does. */
  setApplied(runId: string, applied: boolean): Promise<void>;
  list(query: RunQuery): Promise<RunRecord[]>;
  /** Writes the run's progress and reads back the request waiting for it, in one round trip. */
  checkIn(runId: string, progress: RunProgress): Promise<SteerRequest | null>;
  /**
   * The runner acted on `request`: clears it and moves the record from one status to the other (the table
   * allows it). False when another request replaced it meanwhile: the next check-in reads that one.
   */
  acknowledge(runId: string, request: SteerRequest, from: RunStatus, to: RunStatus): Promise<boolean>;
  /**
   * The runner moved its own record from one status to the other (the table allows it), with `patch`: a window's
   * end pauses it, the next window resumes it. False when the record is no longer in `from`.
   */
  transition(runId: string, from: RunStatus, to: RunStatus, patch?: Partial<RunRecord>): Promise<boolean>;
  /** Records a request (and who asked) if the run's status allows it (`steerRules`); else says why not. */
  request(runId: string, request: SteerRequest): Promise<SteerAnswer>;
}

export type SteerAnswer =
  | { accepted: true }
  | { accepted: false; status?: RunStatus; pending?: SteerRequest | null };

export interface StaleRuns {
  /** Ids of the records marked `interrupted`: nothing says how they ended. */
  interrupted: string[];
  /** Ids of the records completed with the end the local audit had for them. */
  reconciled: string[];
}

export interface RunQuery {
  taskId?: string;
  status?: RunStatus;
  /** Any of these statuses (e.g. the active ones); with `status`, both must hold. */
  statuses?: readonly RunStatus[];
  env?: TargetEnv;
  since?: Date;
  /** Started strictly before: the next page of a list read newest first. */
  before?: Date;
  limit: number;
}

export interface LockHolder {
  runId: string;
  owner: string;
}

/** One run at a time per target database. Implemented in src/db. */
export interface RunLock {
  /** Atomic; throws LockHeldError naming the holder and the wait. Reports a lock it took over (expired, or its holder gone). */
  acquire(holder: LockHolder): Promise<{ takeover?: LockTakeover }>;
  /** Extends the lock; false when it is no longer ours (expired and taken over). */
  renew(holder: LockHolder): Promise<boolean>;
  release(holder: LockHolder): Promise<void>;
  readonly ttlMs: number;
}

/**
 * The targeting fields of a collection's writes (on a sharded cluster, its
 * shard key), settled once the plan names the collection, with what the
 * operator should know (a fallback, writes that will reach every shard).
 * Implemented in src/db.
 */
export type TargetingResolver = (collection: string) => Promise<{ targeting: WriteTargeting; notice?: string }>;

/** Rate limit and back-off, consulted around every write batch. */
export interface Pace {
  /** Resolves when the next batch may go, or early once the signal aborts. */
  beforeBatch(size: number, signal?: AbortSignal): Promise<void>;
  /** `error` is set when the batch's write command failed. */
  afterBatch(size: number, elapsedMs: number, error?: unknown): void;
  notices(): string[];
  /** True while it holds batches back for the database (back-off, lag): a rate then says nothing of the time left. */
  throttled?(): boolean;
}

/** What a run tells its onlooker (the CLI's renderer), step by step. */
export interface RunObserver {
  stepStarted(step: RunStep): void;
  stepProgress(step: RunStep, done: number, total: number): void;
  stepFinished(step: RunStep, record: Readonly<RunRecord>): void;
  stepSkipped(step: RunStep, reason: string): void;
  stepFailed(step: RunStep, message: string): void;
  /** The run ended before this step: its result stays "not reached" in the record. */
  stepNotReached(step: RunStep): void;
  planned(report: PlanReport): void;
  notice(message: string): void;
  /**
   * The record was saved with a new status: `running` as the run starts, `paused` and `running` again as it is
   * steered, then its end. For onlookers that tell others (notifications); optional, since a renderer has nothing
   * more to show than the steps already say.
   */
  statusChanged?(record: Readonly<RunRecord>): void;
  /** After each write batch, and while paused: done/planned, rate, time left (or why none). */
  runProgress?(progress: RunProgress): void;
}
