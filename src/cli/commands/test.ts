import { DatabaseError, ExitCode } from '../../engine/errors.ts';
import { CheckResult, skipped, type HealthCheck } from '../../presence/health-check.ts';
import { healthFailed, presenceHealthChecks } from '../../presence/health.ts';
import { presenceModelOf } from '../../presence/model.ts';
import { stalePresenceParams } from '../../presence/settings.ts';
import { presenceParamsFromOptions, type PresenceOptions } from '../presence-options.ts';
import { healthLines } from '../render/health-table.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { openSession, targetOf, type Session, type TargetOptions } from '../session.ts';

export type TestOptions = TargetOptions & PresenceOptions;

const CHECKS_AFTER_CONNECTION = ['collection', 'schema', 'operations', 'indexes', 'update simulation'];

/**
 * `presence test`: the daily health check. Exit 1 when a check fails; 3 when
 * the database cannot be reached (the table still says so).
 */
export async function testCommand(options: TestOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const params = await presenceParamsFromOptions(stalePresenceParams, options, env);
  const model = presenceModelOf(params);
  const target = targetOf(options);
  let session: Session;
  try {
    session = await openSession(target, options);
  } catch (error) {
    if (!(error instanceof DatabaseError)) throw error;
    const unreachable: HealthCheck = { check: 'connection', result: CheckResult.fail, summary: error.message, details: [], ms: 0 };
    report([unreachable, ...CHECKS_AFTER_CONNECTION.map((check) => skipped(check, 'no connection'))], options);
    return ExitCode.database;
  }
  try {
    const checks = await presenceHealthChecks(session.connection.db, model, { now: new Date(), staleMinutes: params.minutes });
    report(checks, options);
    return healthFailed(checks) ? ExitCode.failed : ExitCode.success;
  } finally {
    await session.close();
  }
}

function report(checks: HealthCheck[], options: TestOptions): void {
  if (outputMode(options.json) === 'json') printJson({ ok: !healthFailed(checks), checks });
  else printLines(healthLines(checks));
}
