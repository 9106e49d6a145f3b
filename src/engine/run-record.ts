import type { ExitCode, SafetyRule } from './errors.ts';
import type { Confirmation, TargetEnv, WindowState } from './safety.ts';
import type { PlanKind, TaskMode } from './task.ts';

export const RunStatus = {
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  refused: 'refused',
  interrupted: 'interrupted',
  /** Stopped between batches by a pause request; holds the lock and writes nothing until resumed. */
  paused: 'paused',
  /** Stopped between batches by a cancel request: its backup stays restorable. */
  cancelled: 'cancelled',
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

/**
 * Which status may follow which. A run goes back and forth between `running` and `paused`, and ends once; a paused
 * run that loses its lock or its process ends `failed` or `interrupted`, one cancelled while paused `cancelled`.
 */
export const allowedTransitions: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  running: ['succeeded', 'failed', 'refused', 'interrupted', 'paused', 'cancelled'],
  paused: ['running', 'failed', 'interrupted', 'cancelled'],
  succeeded: [],
  failed: [],
  refused: [],
  interrupted: [],
  cancelled: [],
};

/** A run whose runner is (or was last known to be) at work: it holds the lock and may be steered. */
export const activeStatuses: readonly RunStatus[] = [RunStatus.running, RunStatus.paused];

export function canBecome(from: RunStatus, to: RunStatus): boolean {
  return allowedTransitions[from].includes(to);
}

export const RunKind = { run: 'run', restore: 'restore' } as const;
export type RunKind = (typeof RunKind)[keyof typeof RunKind];

export const RunStep = {
  lock: 'lock',
  plan: 'plan',
  confirm: 'confirm',
  backup: 'backup',
  apply: 'apply',
  verify: 'verify',
  audit: 'audit',
} as const;
export type RunStep = (typeof RunStep)[keyof typeof RunStep];

export interface TargetInfo {
  /** Always redacted: no credential is ever stored or printed. */
  uri: string;
  database: string;
}

/** Where a run's targeting fields came from: read from the target, named by the operator, or none. */
export const TargetingSource = { detected: 'detected', flag: 'flag', none: 'none' } as const;
export type TargetingSource = (typeof TargetingSource)[keyof typeof TargetingSource];

/**
 * Fields beyond `_id` that every write's and check's filter carries, with the
 * values backed up for each document (on a sharded cluster, the shard key:
 * each write then goes to one shard). Empty with source `none`.
 */
export interface WriteTargeting {
  fields: readonly string[];
  source: TargetingSource;
}

export const NO_TARGETING: WriteTargeting = Object.freeze({ fields: [], source: TargetingSource.none });

export interface PlanSummary {
  /** What the plan does (update, delete, archive, indexes); absent from records written before plans had kinds. */
  kind?: PlanKind;
  collection: string;
  /** Of an archive: `database.collection` its documents go to. */
  into?: string;
  /** Of a step of a run whose task planned several: which one (1-based), of how many. */
  step?: { index: number; of: number };
  /** Canonical EJSON: stored as text because `$` keys are not storable everywhere. */
  filter: string;
  fields: readonly string[];
  count: number;
  estimatedBackupBytes: number;
  /** Absent from records written before targeting existed. */
  targeting?: WriteTargeting;
  /**
   * Matched documents left alone because a path runs through a value that is not a sub-document (an array, null,
   * text), with the first few named and why; absent when there were none.
   */
  malformed?: { count: number; examples: string[] };
  /**
   * The first few documents' before → after (the fields concerned and `_id` only), as canonical EJSON text like
   * the filter; what an operator saw with the plan. Absent from records written before it was kept.
   */
  sample?: string;
}

export interface BackupSummary {
  path: string;
  sha256: string;
  count: number;
  bytes: number;
}

/** Counts that always add up to `planned` (the backup's count). */
export interface ApplyCounts {
  planned: number;
  written: number;
  /** Changed since the plan: left alone by compare-and-set. */
  skipped: number;
  failed: number;
  /** Not attempted: the run stopped (failure or interruption) before reaching them. */
  remaining: number;
}

export interface VerifyCounts {
  checked: number;
  inTargetState: number;
  notInTargetState: number;
  /**
   * Of `notInTargetState`: in neither the backed-up state nor the state the run
   * wrote, so changed by another writer since (a user back online): not a lost write.
   */
  changedSince: number;
  missing: number;
}

export interface RestoreCounts {
  planned: number;
  restored: number;
  alreadyRestored: number;
  /** Changed since the run: reported, not overwritten (unless forced). */
  conflicts: number;
  forced: number;
  remaining: number;
}

/** How a run read and wrote, as the driver resolved it: the URI's own read preference and write concern do not apply. */
export interface RunConcerns {
  /** Every read that decides or checks a write: backup, compare-and-set pre-reads, verify, restore, lock, run store. */
  reads: { readPreference: string; readConcern: string };
  writes: { w: number | string; wtimeoutMS?: number; retryable: boolean };
  /** The plan's count and sample only: the primary unless `--plan-read-preference` says otherwise. */
  planReads: { readPreference: string };
}
export const LockTakeoverReason = {
  /** The lock outlived its holder's heartbeat. */
  expired: 'expired',
  /** Not expired yet, but its holder is known to be gone (e.g. its process no longer exists on this host). */
  holderGone: 'holder-gone',
} as const;
export type LockTakeoverReason = (typeof LockTakeoverReason)[keyof typeof LockTakeoverReason];

export interface LockTakeover {
  previousOwner: string;
  previousRunId: string;
  /** When the lock expired, or (holder gone) would have. */
  expiredAt: Date;
  /** Absent in records of earlier versions, which only took over expired locks. */
  reason?: LockTakeoverReason;
  /** How the holder was known to be gone, in the operator's words. */
  detail?: string;
}

/**
 * A step's outcome: "not reached" from the moment the record is created, then
 * the step's figures once it has run (the way Kysely's migrator seeds every
 * result as not executed). A reached step keeps its figures at the top level,
 * so `record.plan.count` reads as before once `record.plan.state` is `done`.
 */
export const StepState = { notReached: 'not-reached', done: 'done' } as const;
export type StepState = (typeof StepState)[keyof typeof StepState];
export type NotReached = { state: typeof StepState.notReached };
export type Reached<T> = { state: typeof StepState.done } & T;
export type StepResult<T> = NotReached | Reached<T>;

/** Shared by every record as it starts: frozen, so filling one record's step can never touch another's. */
export const notReached: NotReached = Object.freeze({ state: StepState.notReached });

export function reached<T extends object>(outcome: T): Reached<T> {
  return { state: StepState.done, ...outcome };
}

/** The step's figures when it ran; undefined when the run stopped before it. */
export function outcomeOf<T>(step: StepResult<T>): Reached<T> | undefined {
  return step.state === StepState.done ? step : undefined;
}

/** Why a run ended without succeeding; `code` is the exit code it maps to (DESIGN.md). */
export interface RunFailure {
  step: RunStep;
  message: string;
  code: ExitCode;
  /** The safety rule that refused the run, when one did. */
  rule?: SafetyRule;
}

/** One notification of a run to one receiver; the receiver is named without its URL, which is a secret. */
export interface NotificationDelivery {
  /** The event sent: `started`, then how the run ended (see src/cli/notify/events.ts). */
  event: string;
  receiver: string;
  delivered: boolean;
  attempts: number;
  /** Why it was not delivered. */
  error?: string;
}

/** What every record holds, a task's run or a restore. */
interface RecordOfAnyKind {
  _id: string;
  /** umzug's migration name, `task@version`. */
  migration: string;
  task: { id: string; version: number; mode: TaskMode; checksum: string };
  params: Record<string, unknown>;
  operator: string;
  /** The release of the tool that wrote the run (`presence --version`); absent from records of earlier releases. */
  toolVersion?: string;
  target: TargetInfo;
  /** Absent from records of versions that did not keep it. */
  concerns?: RunConcerns;
  dryRun: boolean;
  /** The target's classification, shown in every plan. */
  env: TargetEnv;
  /** Whether the run was inside a maintenance window, and the override reason if it was not; null until the confirm step. */
  window: WindowState | null;
  /** How a write was confirmed (production needs it); null for a dry run and until the confirm step passed. */
  confirmation: Confirmation | null;
  status: RunStatus;
  startedAt: Date;
  /** Null while the run is running. */
  endedAt: Date | null;
  durationMs: number | null;
  stepMs: Partial<Record<RunStep, number>>;
  /** True once the run held the lock: a `running` record that held it and outlived it is stale. */
  lockHeld: boolean;
  lockTakeover?: LockTakeover;
  staleRunsClosed?: string[];
  /** Stale records this run completed with the end this host's local audit had for them. */
  staleRunsReconciled?: string[];
  /** Set on a record left `running` by a lost database and completed later from the local audit of its host. */
  reconciled?: { by: string; at: Date; from: string };
  plan: StepResult<PlanSummary>;
  verify: StepResult<VerifyCounts>;
  notices: string[];
  /** Back-off events: when the runner slowed down for the database, and when it recovered. */
  backoff?: string[];
  /** Present exactly when the run ended failed, refused or interrupted. */
  error?: RunFailure;
  /** Set by umzug's storage when a `once` task's run counts as applied. */
  applied?: boolean;
  /** How the run's notifications went, added once they are settled (after the run ended); absent when none was asked for. */
  notifications?: NotificationDelivery[];
  /** Where the run is, written at most about once a second while it writes; absent before apply. */
  progress?: RunProgress;
  /** `--max-runtime`, when given: the run stops after this long, interrupted and resumable. */
  maxRuntimeMs?: number;
  /** Set when the run stopped itself at a limit: its window's end or its maximum runtime. */
  stoppedBy?: LimitStop;
  /** Each time its window's end paused the run, and when the next window set it writing again. */
  windowPauses?: Array<{ pausedAt: Date; resumedAt?: Date }>;
  /** A pause, resume or cancel asked and not yet acted on by the runner. */
  request?: SteerRequest | null;
  /** Every pause, resume and cancel asked of this run, by whom and when: the audit of its steering. */
  requests?: SteerRequest[];
}

/** The limits a run stops itself at, between batches. */
export const RunLimit = { windowEnded: 'window-ended', maxRuntime: 'max-runtime' } as const;
export type RunLimit = (typeof RunLimit)[keyof typeof RunLimit];

export interface LimitStop {
  limit: RunLimit;
  at: Date;
  message: string;
}

/**
 * One plan of a task that planned several, run as a step of one run: its own backup part, counts and verify. The
 * run's own plan, backup, result and verify then add up its steps.
 */
export interface PlanStepRecord {
  plan: StepResult<PlanSummary>;
  backup: StepResult<BackupSummary>;
  result: StepResult<ApplyCounts>;
  verify: StepResult<VerifyCounts>;
}

/** One step of a restore of such a run, undone in reverse order. */
export interface RestoreStepRecord {
  plan: StepResult<PlanSummary>;
  restore: StepResult<RestoreCounts>;
  verify: StepResult<VerifyCounts>;
}

/** A task's run: its backup is the work list, its apply counts the writes. */
export interface TaskRunRecord extends RecordOfAnyKind {
  kind: typeof RunKind.run;
  checksumDrift?: { recordedChecksum: string; recordedRunId: string };
  /**
   * Set on a run that continues one that stopped (killed, interrupted): its plan and backup are that run's, its
   * writes start after that run's checkpoint, and its result counts both parts.
   */
  continues?: { runId: string; checkpoint: number };
  backup: StepResult<BackupSummary>;
  result: StepResult<ApplyCounts>;
  /** Present when the task planned several steps, in their order. */
  steps?: PlanStepRecord[];
}

/** A restore writes from the backup of an earlier run: it has no backup of its own. */
export interface RestoreRecord extends RecordOfAnyKind {
  kind: typeof RunKind.restore;
  restoreOf: string;
  /** Overwrote documents changed since the run. */
  force: boolean;
  restore: StepResult<RestoreCounts>;
  /** Present when the run restored had several steps: in the order they were undone (the last step first). */
  steps?: RestoreStepRecord[];
}

export type RunRecord = TaskRunRecord | RestoreRecord;

/** The write counts of a task's run that reached apply; a restore counts what it put back instead. */
export function appliedCounts(record: RunRecord): Reached<ApplyCounts> | undefined {
  return record.kind === RunKind.run ? outcomeOf(record.result) : undefined;
}

export const SteerAction = { pause: 'pause', resume: 'resume', cancel: 'cancel' } as const;
export type SteerAction = (typeof SteerAction)[keyof typeof SteerAction];

export interface SteerRequest {
  action: SteerAction;
  /** OS user@host of who asked. */
  by: string;
  at: Date;
}

/** What the runner is doing as of a progress write: an ETA is only a number while it writes at its pace. */
export const ProgressState = { writing: 'writing', throttled: 'throttled', paused: 'paused' } as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

export interface RunProgress {
  step: RunStep;
  state: ProgressState;
  /** Backup entries settled (written, skipped or failed) out of those planned. */
  done: number;
  planned: number;
  /** Over the recent batches; null before two batches. */
  docsPerSecond: number | null;
  /** Null while throttled or paused, or before a rate is known. */
  etaSeconds: number | null;
  /** The last batch settled: the backup's first `entries` entries are done. */
  checkpoint: { batches: number; entries: number };
  at: Date;
}
