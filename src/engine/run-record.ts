import type { ExitCode } from './errors.ts';
import type { Confirmation, TargetEnv, WindowState } from './safety.ts';
import type { TaskMode } from './task.ts';

export const RunStatus = {
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  refused: 'refused',
  interrupted: 'interrupted',
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

/** Which status may follow which: a record only ever leaves `running`, once. */
export const allowedTransitions: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  running: ['succeeded', 'failed', 'refused', 'interrupted'],
  succeeded: [],
  failed: [],
  refused: [],
  interrupted: [],
};

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

export interface PlanSummary {
  collection: string;
  /** Canonical EJSON: stored as text because `$` keys are not storable everywhere. */
  filter: string;
  fields: readonly string[];
  count: number;
  estimatedBackupBytes: number;
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

export interface LockTakeover {
  previousOwner: string;
  previousRunId: string;
  expiredAt: Date;
}

export interface RunRecord {
  _id: string;
  kind: RunKind;
  /** umzug's migration name, `task@version`. */
  migration: string;
  task: { id: string; version: number; mode: TaskMode; checksum: string };
  params: Record<string, unknown>;
  operator: string;
  target: TargetInfo;
  dryRun: boolean;
  /** The target's classification, shown in every plan. */
  env: TargetEnv;
  /** Whether the run was inside a maintenance window, and the override reason if it was not. */
  window?: WindowState;
  /** How a write was confirmed (production needs it). */
  confirmation?: Confirmation;
  status: RunStatus;
  startedAt: Date;
  endedAt?: Date;
  durationMs?: number;
  stepMs: Partial<Record<RunStep, number>>;
  /** True once the run held the lock: a `running` record that held it and outlived it is stale. */
  lockHeld: boolean;
  lockTakeover?: LockTakeover;
  staleRunsClosed?: string[];
  checksumDrift?: { recordedChecksum: string; recordedRunId: string };
  restoreOf?: string;
  force?: boolean;
  plan?: PlanSummary;
  backup?: BackupSummary;
  result?: ApplyCounts;
  verify?: VerifyCounts;
  restore?: RestoreCounts;
  notices: string[];
  /** Back-off events: when the runner slowed down for the database, and when it recovered. */
  backoff?: string[];
  /** `code` is the exit code the failure maps to (DESIGN.md). */
  error?: { step: RunStep; message: string; code: ExitCode };
  /** Set by umzug's storage when a `once` task's run counts as applied. */
  applied?: boolean;
}
