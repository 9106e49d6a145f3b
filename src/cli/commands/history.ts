import { InvalidArgumentError } from 'commander';
import { RunStatus, type RunRecord } from '../../engine/run-record.ts';
import { count, duration, table } from '../render/format.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { openSession, targetOf, type TargetOptions } from '../session.ts';

export interface HistoryOptions extends TargetOptions {
  task?: string;
  status?: RunStatus;
  since?: Date;
  limit: number;
}

export function parseStatus(raw: string): RunStatus {
  if (!Object.values(RunStatus).includes(raw as RunStatus)) {
    throw new InvalidArgumentError(`status must be one of ${Object.values(RunStatus).join(', ')}`);
  }
  return raw as RunStatus;
}

export function parseSince(raw: string): Date {
  const relative = /^(\d+)([mhd])$/.exec(raw);
  if (relative) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 'm' | 'h' | 'd'];
    return new Date(Date.now() - Number(relative[1]) * unit);
  }
  const date = new Date(raw);
  if (Number.isNaN(date.getTime())) throw new InvalidArgumentError(`expected a date (2026-11-01) or an age (30m, 12h, 7d)`);
  return date;
}

/** `presence history`: the audit, newest first. */
export async function historyCommand(options: HistoryOptions): Promise<number> {
  const session = await openSession(targetOf(options), options);
  try {
    const records = await session.store.list({
      taskId: options.task,
      status: options.status,
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
        ['STARTED', 'RUN', 'TASK', 'KIND', 'STATUS', 'RESULT', 'DURATION', 'OPERATOR'],
        records.map((record) => [
          record.startedAt.toISOString(),
          record._id,
          record.migration,
          record.kind + (record.dryRun ? ' (dry run)' : ''),
          record.status,
          resultOf(record),
          record.durationMs === undefined ? '-' : duration(record.durationMs),
          record.operator,
        ]),
      ),
    );
    return 0;
  } finally {
    await session.close();
  }
}

function resultOf(record: RunRecord): string {
  if (record.restore) return `${count(record.restore.restored)} restored, ${count(record.restore.conflicts)} conflicts`;
  if (record.result) return `${count(record.result.written)} written, ${count(record.result.skipped)} skipped`;
  if (record.plan) return `${count(record.plan.count)} planned`;
  return record.error?.message.slice(0, 60) ?? '-';
}
