import { connect, databaseError, isDatabaseFailure } from '../db/connect.ts';
import type { Target } from '../db/target.ts';
import { errorMessage } from '../engine/errors.ts';
import type { ConnectedSource } from '../presence/connected.ts';
import { measurePresence, type PresenceMeasure } from '../presence/measure.ts';
import { presenceModelOf } from '../presence/model.ts';
import { recordSample, sampledThisMinute, sampleOf } from '../presence/samples.ts';
import { statusPresenceParams } from '../presence/settings.ts';
import { DEFAULT_STATUS_MAX_TIME_SECONDS } from './options.ts';
import { presenceParamsFromOptions, sampleRetentionFromOptions, type PresenceOptions } from './presence-options.ts';

/** What a scheduler measures for its samples: what `status` would, with this run's settings (reconcile's source included). */
export interface ScheduledSampling extends PresenceMeasure {
  retentionDays: number;
}

/** Read once, before the first interval: a bad setting stops the schedule before it starts, like any usage error. */
export async function scheduledSampling(options: PresenceOptions, env: NodeJS.ProcessEnv, source?: ConnectedSource): Promise<ScheduledSampling> {
  // Status's parameters from the run's flags and the settings: stale's --minutes, reconcile's --grace, the rest configured.
  const params = await presenceParamsFromOptions(statusPresenceParams, options, env);
  const retentionDays = await sampleRetentionFromOptions({ config: options.config }, env);
  const maxTimeMs = DEFAULT_STATUS_MAX_TIME_SECONDS * 1000;
  return { model: presenceModelOf(params), staleMinutes: params.minutes, graceSeconds: params.graceSeconds, maxTimeMs, retentionDays, source };
}

/**
 * After an interval this host ran: a sample, unless this minute has one (a
 * `status` or another scheduler took it). Never throws: a sample not recorded
 * is a log line, and the schedule goes on.
 */
export async function recordScheduledSample(target: Target, sampling: ScheduledSampling, log: (line: string) => void): Promise<void> {
  if (sampling.retentionDays === 0) return;
  const notRecorded = (reason: string) => log(`presence sample not recorded: ${reason}`);
  try {
    const connection = await connect(target);
    try {
      const { db } = connection;
      const now = new Date();
      if (await sampledThisMinute(db, sampling.model.collection, now)) return;
      const { figures, connected } = await measurePresence(db, sampling, now);
      const outcome = await recordSample(db, sampleOf(figures, connected), sampling.retentionDays);
      if (outcome.state === 'not-recorded') notRecorded(outcome.reason);
      if (outcome.state === 'recorded' && outcome.notPruned !== undefined) {
        log(`presence sample recorded, but those past the retention not pruned, so they pile up: ${outcome.notPruned}`);
      }
    } finally {
      await connection.close();
    }
  } catch (error) {
    // Named like any database failure: the target's URI redacted.
    notRecorded(errorMessage(isDatabaseFailure(error) ? databaseError(error, target) : error));
  }
}
