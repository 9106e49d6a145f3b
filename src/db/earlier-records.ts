import { notReached, reached, RunKind, type RunRecord, type StepResult } from '../engine/run-record.ts';

/**
 * A run record as stored by any version of the tool. Earlier versions left a
 * step's result out until it was reached, stored a reached one without its
 * `state`, and left out what had not happened yet (window, confirmation, end).
 */
export type StoredRunRecord = Omit<RunRecord, 'window' | 'confirmation' | 'endedAt' | 'durationMs' | 'plan' | 'verify'> &
  Partial<Pick<RunRecord, 'window' | 'confirmation' | 'endedAt' | 'durationMs'>> & {
    plan?: unknown;
    verify?: unknown;
    backup?: unknown;
    result?: unknown;
    restore?: unknown;
    restoreOf?: string;
    force?: boolean;
  };

/** Reads a record of any version as today's shape, so `history` and the runner read one shape. */
export function recordAsRead(stored: StoredRunRecord): RunRecord {
  const { plan, verify, backup, result, restore, restoreOf, force, ...common } = stored;
  const endedAt = stored.endedAt ?? null;
  const shared = {
    ...common,
    window: stored.window ?? null,
    confirmation: stored.confirmation ?? null,
    endedAt,
    // An earlier version closed a dead runner's record with its end but no duration.
    durationMs: stored.durationMs ?? (endedAt === null ? null : endedAt.getTime() - stored.startedAt.getTime()),
    plan: stepAsRead(plan),
    verify: stepAsRead(verify),
  };
  // Every version wrote a restore's `restoreOf` and `force` when it started.
  if (stored.kind === RunKind.restore) return { ...shared, kind: RunKind.restore, restoreOf, force, restore: stepAsRead(restore) } as RunRecord;
  return { ...shared, kind: RunKind.run, backup: stepAsRead(backup), result: stepAsRead(result) } as RunRecord;
}

function stepAsRead<T extends object>(value: unknown): StepResult<T> {
  if (value === undefined || value === null) return notReached;
  if ('state' in (value as object)) return value as StepResult<T>;
  return reached(value as T);
}
