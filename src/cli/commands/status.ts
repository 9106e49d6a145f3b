import { databaseError, isDatabaseFailure } from '../../db/connect.ts';
import { lastCompletedRuns, recentPresenceRuns } from '../../presence/last-runs.ts';
import { presenceModelOf } from '../../presence/model.ts';
import { statusPresenceParams } from '../../presence/settings.ts';
import { measurePresence } from '../../presence/measure.ts';
import { recordSample, sampleOf } from '../../presence/samples.ts';
import {
  connectedSourceFromOptions,
  presenceParamsFromOptions,
  sampleRetentionFromOptions,
  type ConnectedOptions,
  type PresenceOptions,
  type SampleOptions,
} from '../presence-options.ts';
import { DEFAULT_STATUS_MAX_TIME_SECONDS } from '../options.ts';
import { printJson, printLines } from '../render/output.ts';
import { presenceStatusJson, presenceStatusLines } from '../../views/presence-status.ts';
import { prometheusText } from '../render/prometheus.ts';
import { openSession, targetOf, type TargetOptions } from '../session.ts';
import { StatusFormat } from '../status-format.ts';

export interface StatusOptions extends TargetOptions, PresenceOptions, ConnectedOptions, SampleOptions {
  format?: StatusFormat;
  /** Seconds the database queries may take, each part of status on its own budget. */
  maxTime?: number;
}

const RECENT_RUNS = 5;

/**
 * `presence status`: who is online, who is stale, what is malformed, index
 * health and the last runs. Its one write is a presence sample of what it
 * measured, for the dashboard; a sample not recorded never fails status.
 */
export async function statusCommand(options: StatusOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const params = await presenceParamsFromOptions(statusPresenceParams, options, env);
  const model = presenceModelOf(params);
  const source = await connectedSourceFromOptions(options, env);
  const retentionDays = await sampleRetentionFromOptions(options, env);
  const format = options.json ? StatusFormat.json : (options.format ?? StatusFormat.text);
  const target = targetOf(options);
  const session = await openSession(target, options);
  try {
    const db = session.connection.db;
    const now = new Date();
    const maxTimeMs = (options.maxTime ?? DEFAULT_STATUS_MAX_TIME_SECONDS) * 1000;
    const { figures, connected } = await measurePresence(db, { model, staleMinutes: params.minutes, graceSeconds: params.graceSeconds, maxTimeMs, source }, now);
    const sampled = await recordSample(db, sampleOf(figures, connected), retentionDays);
    // Scrapers and --json readers get what they always got; a person reading the text is told.
    const sampleLines =
      sampled.state === 'not-recorded'
        ? [`presence samples: not recorded (${sampled.reason})`]
        : sampled.state === 'recorded' && sampled.notPruned !== undefined
          ? [`presence samples: recorded, but those past the retention not pruned, so they pile up (${sampled.notPruned})`]
          : [];
    if (format === StatusFormat.prometheus) {
      process.stdout.write(prometheusText(figures, await lastCompletedRuns(session.store), connected));
      return 0;
    }
    const runs = await recentPresenceRuns(session.store, RECENT_RUNS);
    if (format === StatusFormat.json) printJson(presenceStatusJson(model, figures, runs, connected));
    else printLines([...presenceStatusLines(model, figures, runs, connected), ...sampleLines]);
    return 0;
  } catch (error) {
    // A connection lost mid-way is the database's failure (exit 3), not the command's.
    throw isDatabaseFailure(error) ? databaseError(error, target) : error;
  } finally {
    await Promise.all([session.close(), source?.close()]);
  }
}
