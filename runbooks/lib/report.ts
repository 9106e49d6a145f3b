import { outcomeOf, type RunRecord, type TaskRunRecord } from '../../src/engine/run-record.ts';
import type { PresenceFigures } from '../../src/presence/figures.ts';
import type { HealthCheck } from '../../src/presence/health-check.ts';
import { RunbookError, RunbookExit } from './runbook.ts';

/** What `presence status --json` prints, as far as the runbooks read it. */
export interface StatusOutput {
  figures: PresenceFigures;
}

/** What `presence test --json` prints. */
export interface HealthOutput {
  ok: boolean;
  checks: HealthCheck[];
}

export function statusLine({ figures }: StatusOutput): string {
  return (
    `${figures.online} online of ${figures.total} user(s) in ${figures.database}.${figures.collection}` +
    ` (${figures.stale} inactive > ${figures.staleMinutes} min, ${figures.malformed} malformed)`
  );
}

export function resultLine(record: TaskRunRecord): string {
  const result = outcomeOf(record.result);
  if (!result) return `${outcomeOf(record.plan)?.count ?? 0} planned`;
  return `${result.written} written, ${result.skipped} skipped (changed since the plan), ${result.failed} failed`;
}

export function undoHint(record: RunRecord): string {
  return `run ${record._id} (undo: presence restore ${record._id})`;
}

/** The checks that did not pass, one line each. */
export function failedChecks(health: HealthOutput | undefined): string[] {
  return (health?.checks ?? []).filter((check) => check.result === 'fail').map((check) => `${check.check}: ${check.summary}`);
}

/**
 * Dry runs are always allowed, so the dry run's record says whether the real
 * run would be: outside every window, without an override, it stops here
 * (exit 4) before anyone is asked to confirm.
 */
export function assertInsideWindow(dryRun: RunRecord, overrideReason: string | undefined, step: string): void {
  const window = dryRun.window;
  if (!window || window.inside || overrideReason?.trim()) return;
  throw new RunbookError(
    `outside the maintenance window (${window.windows.join(', ')}): rerun inside it, or pass --outside-window "<reason>"; nothing written`,
    RunbookExit.refused,
    step,
  );
}

export function windowLine(record: RunRecord, overrideReason: string | undefined): string {
  const window = record.window;
  if (!window || window.windows.length === 0) return 'no maintenance window set';
  if (window.inside) return `inside the maintenance window (${window.windows.join(', ')})`;
  const reason = window.overrideReason ?? overrideReason?.trim();
  return `outside the maintenance window (${window.windows.join(', ')})${reason ? `, override: ${reason}` : ''}`;
}
