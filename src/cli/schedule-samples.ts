import { MongoError } from 'mongodb';
import { connect, databaseError } from '../db/connect.ts';
import type { Target } from '../db/target.ts';
import { errorMessage } from '../engine/errors.ts';
import type { ConnectedSource } from '../presence/connected.ts';
import { connectedFigures } from '../presence/connected-figures.ts';
import { presenceFigures } from '../presence/figures.ts';
import { presenceModelOf, type PresenceModel } from '../presence/model.ts';
import { recordSample, sampledThisMinute, sampleOf } from '../presence/samples.ts';
import { statusPresenceParams } from '../presence/settings.ts';
import { DEFAULT_STATUS_MAX_TIME_SECONDS } from './options.ts';
import { presenceParamsFromOptions, sampleRetentionFromOptions, type PresenceOptions } from './presence-options.ts';

/** What a scheduler measures for its samples: what `status` would, with this run's settings. */
export interface ScheduledSampling {
  model: PresenceModel;
  staleMinutes: number;
  graceSeconds: number;
  retentionDays: number;
  /** Reconcile's source: without one, the connected figures of a sample are null. */
  source?: ConnectedSource;
}

/** Read once, before the first interval: a bad setting stops the schedule before it starts, like any usage error. */
export async function scheduledSampling(options: PresenceOptions, env: NodeJS.ProcessEnv, source?: ConnectedSource): Promise<ScheduledSampling> {
  // Status's parameters from the run's flags and the settings: stale's --minutes, reconcile's --grace, the rest configured.
  const params = await presenceParamsFromOptions(statusPresenceParams, options, env);
  const retentionDays = await sampleRetentionFromOptions({ config: options.config }, env);
  return { model: presenceModelOf(params), staleMinutes: params.minutes, graceSeconds: params.graceSeconds, retentionDays, source };
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
      const maxTimeMs = DEFAULT_STATUS_MAX_TIME_SECONDS * 1000;
      const figures = await presenceFigures(db, sampling.model, sampling.staleMinutes, now, maxTimeMs);
      const connected =
        sampling.source && (await connectedFigures(db, sampling.model, sampling.source, now, sampling.graceSeconds, maxTimeMs));
      const outcome = await recordSample(db, sampleOf(figures, connected), sampling.retentionDays);
      if (outcome.state === 'not-recorded') notRecorded(outcome.reason);
    } finally {
      await connection.close();
    }
  } catch (error) {
    // Named like any database failure: the target's URI redacted.
    notRecorded(errorMessage(error instanceof MongoError ? databaseError(error, target) : error));
  }
}
