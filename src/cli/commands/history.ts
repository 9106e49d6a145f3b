import { RunKind, StepState, type RunRecord, type RunStatus } from '../../engine/run-record.ts';
import { parseTargetEnv } from '../../engine/safety.ts';
import { count, duration, table } from '../../views/format.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { openSession, targetOf, type TargetOptions } from '../session.ts';

export interface HistoryOptions extends TargetOptions {
  task?: string;
  status?: RunStatus;
  env?: string;
  since?: Date;
  limit: number;
}

/** `presence history`: the audit, newest first. */
export async function historyCommand(options: HistoryOptions): Promise<number> {
  // Every filter is checked before connecting: bad input writes nothing, not even a connection.
  const env = options.env === undefined ? undefined : parseTargetEnv(options.env, '--env');
  const session = await openSession(targetOf(options), options);
  try {
    const records = await session.store.list({
      taskId: options.task,
      status: options.status,
      env,
      since: options.since,
      limit: options.limit,
    });
    if (outputMode(options.json) === 'json') {
      printJson(records);
      return 0;
    }
    if (records.length === 0) {
      printLines(['no runs recorded']);
      return 0;
    }
    printLines(
      table(
        ['STARTED', 'RUN', 'TASK', 'KIND', 'ENV', 'STATUS', 'RESULT', 'WINDOW', 'DURATION', 'OPERATOR'],
        records.map((record) => [
          record.startedAt.toISOString(),
          record._id,
          record.migration,
          record.kind + (record.dryRun ? ' (dry run)' : ''),
          record.env ?? '-',
          record.status,
          resultOf(record),
          windowOf(record),
          record.durationMs === null ? '-' : duration(record.durationMs),
          record.operator,
        ]),
      ),
    );
    return 0;
  } finally {
    await session.close();
  }
}

function windowOf(record: RunRecord): string {
  if (!record.window || record.window.windows.length === 0) return '-';
  if (record.window.inside) return 'inside';
  return record.window.overrideReason ? `outside, override: ${record.window.overrideReason}` : 'outside';
}

function resultOf(record: RunRecord): string {
  const steps = record.steps === undefined ? '' : ` (${record.steps.length} steps)`;
  return resultCounts(record) + steps;
}

function resultCounts(record: RunRecord): string {
  if (record.kind === RunKind.restore && record.restore.state === StepState.done) {
    return `${count(record.restore.restored)} restored, ${count(record.restore.conflicts)} conflicts`;
  }
  if (record.kind === RunKind.run && record.result.state === StepState.done) {
    return `${count(record.result.written)} written, ${count(record.result.skipped)} skipped`;
  }
  if (record.plan.state === StepState.done) return `${count(record.plan.count)} planned`;
  return record.error?.message.slice(0, 60) ?? '-';
}
