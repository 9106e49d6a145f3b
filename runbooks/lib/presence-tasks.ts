import { UsageError } from '../../src/engine/errors.ts';
import { loadPresenceModel } from '../../src/presence/config.ts';
import { presenceParamsOf } from '../../src/presence/model.ts';
import type { PresenceTaskId } from '../../src/presence/task-ids.ts';
import { RunbookUsageError } from './runbook.ts';

/**
 * `presence run <presence task>` with the presence settings as parameters.
 *
 * The runbooks write through `presence run presence-cleanup|presence-stale`
 * because `presence cleanup` and `presence stale` do not take --yes/--expect
 * (yet). `run` reads no presence settings of its own, so they are read here
 * as `status` and `test` read them ($PRESENCE_*, $PRESENCE_CONFIG) and passed
 * as --param: every step of a runbook sees the same collection and fields.
 */
export async function presenceTaskArgs(
  taskId: PresenceTaskId,
  extra: Record<string, string> = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  let params: Record<string, unknown>;
  try {
    params = { ...presenceParamsOf(await loadPresenceModel({ flags: {}, env })), ...extra };
  } catch (error) {
    if (error instanceof UsageError) throw new RunbookUsageError(error.message);
    throw error;
  }
  return ['run', taskId, ...Object.entries(params).flatMap(([key, value]) => ['--param', `${key}=${paramText(value)}`])];
}

/** As a flag or env var would spell it: lists comma-separated, objects as JSON. */
function paramText(value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}
