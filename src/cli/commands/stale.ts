import { errorMessage, ExitCode, MaintenanceError, UsageError } from '../../engine/errors.ts';
import { RunStatus } from '../../engine/run-record.ts';
import { PresenceTaskId } from '../../presence/task-ids.ts';
import { exitCodeOfRecord } from '../exit-codes.ts';
import { loadPresenceTask, type PresenceOptions, type PresenceTaskRun } from '../presence-options.ts';
import { claimInterval, type IntervalClaim } from '../../db/schedule-claim.ts';
import { connect } from '../../db/connect.ts';
import { runEvery, type Interval, type Iteration } from '../schedule.ts';
import { safetyPolicy } from '../safety-options.ts';
import { operator, targetOf } from '../session.ts';
import { runLoadedTask, type RunOptions } from './run.ts';

export const DEFAULT_INTERVAL_MINUTES = 15;

export interface StaleOptions extends RunOptions, PresenceOptions {
  scheduled?: boolean;
  /** Minutes between scheduled runs; decimals allowed. */
  interval?: number;
}

/** `presence stale`: online users inactive longer than --minutes set offline, once or on a schedule. */
export async function staleCommand(options: StaleOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (options.interval !== undefined && !options.scheduled) {
    throw new UsageError('--interval only applies with --scheduled (e.g. --scheduled --interval=15)');
  }
  const prepared = await loadPresenceTask(PresenceTaskId.stale, options, env);
  if (!options.scheduled) {
    const record = await runPresenceTask(prepared, options);
    return record === undefined ? 0 : exitCodeOfRecord(record);
  }
  // Checked before the first interval: a bad target or safety setting is an error now, not a schedule log line later.
  safetyPolicy(options, targetOf(options), undefined, env);
  return scheduleStale(prepared, options, options.interval ?? DEFAULT_INTERVAL_MINUTES);
}

/**
 * An audited run every interval. Schedulers on several hosts claim each
 * interval in the target database, so exactly one of them runs it, and the
 * lock keeps runs from overlapping; a lost database is logged and retried on
 * the next beat. Only a usage error (the configuration will not fix itself) stops it.
 */
function scheduleStale(prepared: PresenceTaskRun, options: StaleOptions, intervalMinutes: number): Promise<number> {
  // With --json, stdout carries only the runs' records.
  const log = (line: string) => (options.json ? process.stderr : process.stdout).write(`[schedule] ${line}\n`);
  log(`stale every ${intervalMinutes} min (users inactive > ${prepared.params.minutes} min); Ctrl-C or SIGTERM stops`);
  // A dry-run schedule claims its own intervals: it must never take one from a real schedule.
  const schedule = `${PresenceTaskId.stale} on ${String(prepared.params.collection)} every ${intervalMinutes} min${options.dryRun ? ' (dry run)' : ''}`;
  return runEvery({ intervalMs: intervalMinutes * 60_000, log }, async (n, interval): Promise<Iteration> => {
    try {
      const claim = await claimScheduledInterval(options, schedule, interval);
      if (!claim.claimed) {
        log(`run ${n}: the interval from ${interval.start.toISOString()} is taken by ${claim.holder}; not running`);
        return { next: 'continue' };
      }
      log(`run ${n} starting at ${new Date().toISOString()}`);
      const record = await runPresenceTask(prepared, options);
      if (record === undefined) return { next: 'continue' };
      const exitCode = exitCodeOfRecord(record);
      if (exitCode === ExitCode.usage) {
        log(`stopping: ${record.error?.message ?? 'bad input'}`);
        return { next: 'stop', exitCode };
      }
      if (record.status === RunStatus.refused) log(`run ${n} refused (${record.error?.message}): another runner has this interval`);
      else if (exitCode !== ExitCode.success) log(`run ${n} ${record.status}: ${record.error?.message ?? 'see above'}`);
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

function runPresenceTask({ tasks, loaded, params }: PresenceTaskRun, options: StaleOptions) {
  return runLoadedTask(tasks, loaded, params, options);
}

/** This host's claim on one interval of the schedule, in the target database. */
async function claimScheduledInterval(options: StaleOptions, schedule: string, interval: Interval): Promise<IntervalClaim> {
  const connection = await connect(targetOf(options));
  try {
    return await claimInterval(connection.db, schedule, interval, `${operator()} (pid ${process.pid})`);
  } finally {
    await connection.close();
  }
}
