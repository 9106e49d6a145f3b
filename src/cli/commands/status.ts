import { MongoError } from 'mongodb';
import { databaseError } from '../../db/connect.ts';
import { presenceFigures } from '../../presence/figures.ts';
import { lastCompletedRuns, recentPresenceRuns } from '../../presence/last-runs.ts';
import { presenceModelOf } from '../../presence/model.ts';
import { stalePresenceParams } from '../../presence/settings.ts';
import { presenceParamsFromOptions, type PresenceOptions } from '../presence-options.ts';
import { printJson, printLines } from '../render/output.ts';
import { presenceStatusJson, presenceStatusLines } from '../render/presence-status.ts';
import { prometheusText } from '../render/prometheus.ts';
import { openSession, targetOf, type TargetOptions } from '../session.ts';
import { StatusFormat } from '../status-format.ts';

export interface StatusOptions extends TargetOptions, PresenceOptions {
  format?: StatusFormat;
}

const RECENT_RUNS = 5;

/** `presence status`: who is online, who is stale, what is malformed, index health and the last runs. Read-only. */
export async function statusCommand(options: StatusOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const params = await presenceParamsFromOptions(stalePresenceParams, options, env);
  const model = presenceModelOf(params);
  const format = options.json ? StatusFormat.json : (options.format ?? StatusFormat.text);
  const target = targetOf(options);
  const session = await openSession(target, options);
  try {
    const figures = await presenceFigures(session.connection.db, model, params.minutes, new Date());
    if (format === StatusFormat.prometheus) {
      process.stdout.write(prometheusText(figures, await lastCompletedRuns(session.store)));
      return 0;
    }
    const runs = await recentPresenceRuns(session.store, RECENT_RUNS);
    if (format === StatusFormat.json) printJson(presenceStatusJson(model, figures, runs));
    else printLines(presenceStatusLines(model, figures, runs));
    return 0;
  } catch (error) {
    // A connection lost mid-way is the database's failure (exit 3), not the command's.
    throw error instanceof MongoError ? databaseError(error, target) : error;
  } finally {
    await session.close();
  }
}
