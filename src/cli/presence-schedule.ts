import { connect } from '../db/connect.ts';
import { claimInterval, type IntervalClaim } from '../db/schedule-claim.ts';
import { errorMessage, ExitCode, MaintenanceError, UsageError } from '../engine/errors.ts';
import { RunStatus, type RunRecord } from '../engine/run-record.ts';
import type { RunOptions } from './commands/run.ts';
import { exitCodeOfRecord } from './exit-codes.ts';
import type { ConnectedSource } from '../presence/connected.ts';
import type { PresenceOptions, PresenceTaskRun } from './presence-options.ts';
import { safetyPolicy } from './safety-options.ts';
import { runEvery, type Interval, type Iteration } from './schedule.ts';
import { recordScheduledSample, scheduledSampling, type ScheduledSampling } from './schedule-samples.ts';
import { operator, targetOf } from './session.ts';

export const DEFAULT_INTERVAL_MINUTES = 15;

export interface ScheduleOptions extends RunOptions, PresenceOptions {
  scheduled?: boolean;
  /** Minutes between scheduled runs; decimals allowed. */
  interval?: number;
}

/** Once, or every `--interval` minutes with `--scheduled`: the exit code of the run or the schedule. */
export async function runOnceOrScheduled(
  prepared: PresenceTaskRun,
  options: ScheduleOptions,
  summary: string,
  runOnce: () => Promise<RunRecord | undefined>,
  env: NodeJS.ProcessEnv,
  /** Reconcile's: the presence samples a schedule records then count the connected users. */
  source?: ConnectedSource,
): Promise<number> {
  if (options.interval !== undefined && !options.scheduled) {
    throw new UsageError('--interval only applies with --scheduled (e.g. --scheduled --interval=15)');
  }
  if (!options.scheduled) {
    const record = await runOnce();
    return record === undefined ? 0 : exitCodeOfRecord(record);
  }
  // Checked before the first interval: a bad target or safety setting is an error now, not a schedule log line later.
  safetyPolicy(options, targetOf(options), undefined, env);
  // A dry-run schedule writes nothing to the target, samples included.
  const sampling = options.dryRun ? undefined : await scheduledSampling(options, env, source);
  return schedulePresenceRuns(prepared, options, options.interval ?? DEFAULT_INTERVAL_MINUTES, summary, runOnce, sampling);
}

/**
 * An audited run every interval. Schedulers on several hosts claim each
 * interval in the target database, so exactly one of them runs it, and the
 * lock keeps runs from overlapping; a lost database is logged and retried on
 * the next beat. Only a usage error (the configuration will not fix itself) stops it.
 * After each interval it ran, this host records a presence sample.
 */
function schedulePresenceRuns(
  prepared: PresenceTaskRun,
  options: ScheduleOptions,
  intervalMinutes: number,
  summary: string,
  runOnce: () => Promise<RunRecord | undefined>,
  sampling: ScheduledSampling | undefined,
): Promise<number> {
  // With --json, stdout carries only the runs' records.
  const log = (line: string) => (options.json ? process.stderr : process.stdout).write(`[schedule] ${line}\n`);
  log(`${summary} every ${intervalMinutes} min; Ctrl-C or SIGTERM stops`);
  // A dry-run schedule claims its own intervals: it must never take one from a real schedule.
  const taskId = prepared.loaded.task.id;
  const schedule = `${taskId} on ${String(prepared.params.collection)} every ${intervalMinutes} min${options.dryRun ? ' (dry run)' : ''}`;
  return runEvery({ intervalMs: intervalMinutes * 60_000, log }, async (n, interval): Promise<Iteration> => {
    try {
      const claim = await claimScheduledInterval(options, schedule, interval);
      if (!claim.claimed) {
        log(`run ${n}: the interval from ${interval.start.toISOString()} is taken by ${claim.holder}; not running`);
        return { next: 'continue' };
      }
      log(`run ${n} starting at ${new Date().toISOString()}`);
      const record = await runOnce();
      if (sampling) await recordScheduledSample(targetOf(options), sampling, log);
      if (record === undefined) return { next: 'continue' };
      const exitCode = exitCodeOfRecord(record);
      if (exitCode === ExitCode.usage) {
        log(`stopping: ${record.error?.message ?? 'bad input'}`);
        return { next: 'stop', exitCode };
      }
      if (record.status === RunStatus.refused) {
        const byLock = record.error?.step === 'lock' ? ': another runner has this interval' : '';
        log(`run ${n} refused (${record.error?.message})${byLock}`);
      } else if (exitCode !== ExitCode.success) log(`run ${n} ${record.status}: ${record.error?.message ?? 'see above'}`);
      return { next: 'continue' };
    } catch (error) {
      if (error instanceof MaintenanceError && error.exitCode === ExitCode.usage) {
        log(`stopping: ${error.message}`);
        return { next: 'stop', exitCode: ExitCode.usage };
      }
      log(`run ${n} could not run: ${errorMessage(error)}; retrying at the next interval`);
      return { next: 'continue' };
    }
  });
}

/** This host's claim on one interval of the schedule, in the target database. */
async function claimScheduledInterval(options: ScheduleOptions, schedule: string, interval: Interval): Promise<IntervalClaim> {
  const connection = await connect(targetOf(options));
  try {
    return await claimInterval(connection.db, schedule, interval, `${operator()} (pid ${process.pid})`);
  } finally {
    await connection.close();
  }
}
