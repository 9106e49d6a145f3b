import { InvalidArgumentError } from 'commander';
import { RunKind, RunStatus, StepState, type RunRecord } from '../../engine/run-record.ts';
import { parseTargetEnv } from '../../engine/safety.ts';
import { count, duration, table } from '../render/format.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { openSession, targetOf, type TargetOptions } from '../session.ts';

export interface HistoryOptions extends TargetOptions {
  task?: string;
  status?: RunStatus;
  env?: string;
  since?: Date;
  limit: number;
}

export function parseStatus(raw: string): RunStatus {
  if (!Object.values(RunStatus).includes(raw as RunStatus)) {
    throw new InvalidArgumentError(`status must be one of ${Object.values(RunStatus).join(', ')}`);
  }
  return raw as RunStatus;
}

const ageFormat = /^(\d{1,6})([mhd])$/;

/** `30d`, `12h`, `90m`: the moment that long ago. */
export function parseAge(raw: string): Date {
  const relative = ageFormat.exec(raw.trim());
  if (!relative) throw new InvalidArgumentError(`expected an age like 30d, 12h or 90m, got "${raw.slice(0, 40)}"`);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 'm' | 'h' | 'd'];
  return new Date(Date.now() - Number(relative[1]) * unit);
}

export function parseSince(raw: string): Date {
  if (ageFormat.test(raw.trim())) return parseAge(raw);
  const date = new Date(raw);
  if (Number.isNaN(date.getTime())) throw new InvalidArgumentError(`expected a date (2026-11-01) or an age (30m, 12h, 7d)`);
  return date;
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
  if (record.kind === RunKind.restore && record.restore.state === StepState.done) {
    return `${count(record.restore.restored)} restored, ${count(record.restore.conflicts)} conflicts`;
  }
  if (record.kind === RunKind.run && record.result.state === StepState.done) {
    return `${count(record.result.written)} written, ${count(record.result.skipped)} skipped`;
  }
  if (record.plan.state === StepState.done) return `${count(record.plan.count)} planned`;
  return record.error?.message.slice(0, 60) ?? '-';
}
