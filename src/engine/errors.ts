import { createRequire } from 'node:module';
import type * as Driver from 'mongodb';

/**
 * One error base carrying the exit code DESIGN.md promises; only src/cli turns it
 * into a process exit code. Messages name the task and the step where they can.
 */
export const ExitCode = {
  success: 0,
  failed: 1,
  usage: 2,
  database: 3,
  refused: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class MaintenanceError extends Error {
  readonly exitCode: ExitCode;

  constructor(message: string, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Bad arguments, parameters, files or configuration: nothing was written. */
export class UsageError extends MaintenanceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.usage, options);
  }
}

/** A task's plan the runner cannot carry out: the task (or what it met in the data) is at fault. */
export class TaskPlanError extends MaintenanceError {
  constructor(message: string) {
    super(message, ExitCode.failed);
  }
}

/** The database cannot be reached or refuses our credentials. */
export class DatabaseError extends MaintenanceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.database, options);
  }
}

/** The safety rules that may refuse a run (DESIGN.md, "Safety around production"). */
export const SafetyRule = {
  oneRunPerTarget: 'one-run-per-target',
  maintenanceWindow: 'maintenance-window',
  expectedCount: 'expected-count',
  productionConfirmation: 'production-confirmation',
  /** No write without a backup, and no backup the disk has no room for. */
  backupSpace: 'backup-space',
  /** A pause, resume or cancel the run's status does not allow (the status table). */
  runStatus: 'run-status',
} as const;
export type SafetyRule = (typeof SafetyRule)[keyof typeof SafetyRule];

/** A safety rule said no: lock held, no confirmation, outside a window. The message names the rule, never a flag. */
export class RefusedError extends MaintenanceError {
  constructor(
    message: string,
    readonly rule: SafetyRule,
    options?: { cause?: unknown },
  ) {
    super(message, ExitCode.refused, options);
  }
}

/**
 * The lock is held: says by whom and how long to wait, since a holder on another host cannot be known dead
 * and only the lock's expiry frees it. `detail` replaces the wait when something else is known.
 */
export class LockHeldError extends RefusedError {
  constructor(
    readonly holder: { owner: string; runId: string; expiresAt: Date },
    detail?: string,
  ) {
    const waitSeconds = Math.max(0, Math.ceil((holder.expiresAt.getTime() - Date.now()) / 1000));
    super(
      `another run holds the lock: run ${holder.runId} by ${holder.owner}, expires ${holder.expiresAt.toISOString()} (${detail ?? `retry in ${waitSeconds} s`})`,
      SafetyRule.oneRunPerTarget,
    );
  }
}

/** A backup file that is incomplete, corrupt or for another target. */
export class BackupError extends UsageError {}

/** A network or server-selection failure: the database went away, whatever step we were at. */
export function isConnectionLoss(error: unknown): boolean {
  // The driver's own classes, required only when an error is classified (by then the driver is loaded):
  // importing them with this module would load the driver for `presence --help`.
  const { MongoNetworkError, MongoServerSelectionError } = createRequire(import.meta.url)('mongodb') as typeof Driver;
  return error instanceof MongoNetworkError || error instanceof MongoServerSelectionError;
}

/** The exit code DESIGN.md gives a failure. */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof MaintenanceError) return error.exitCode;
  return isConnectionLoss(error) ? ExitCode.database : ExitCode.failed;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The operator stopped the run (SIGINT, SIGTERM): it ends after the current batch. */
export class InterruptedError extends MaintenanceError {
  constructor(reason = 'interrupted by signal') {
    super(reason, ExitCode.failed);
  }
}

/** Someone asked the run to stop (`presence cancel`): it ends after the current batch, its backup restorable. */
export class CancelledError extends MaintenanceError {
  constructor(by: string, at: Date) {
    super(`cancelled by ${by} at ${at.toISOString()}`, ExitCode.failed);
  }
}

/** The lock expired under us (a stalled runner): writing on would risk two writers. */
export class LockLostError extends MaintenanceError {
  constructor(detail: string) {
    super(`lost the lock: ${detail}; stopped writing`, ExitCode.failed);
  }
}
