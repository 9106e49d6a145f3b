import type { RunRecord } from '../../engine/run-record.ts';
import type { PresenceFigures } from '../../presence/figures.ts';
import { indexKeyText } from '../../presence/indexes.ts';
import { describeOnline, type PresenceModel } from '../../presence/model.ts';
import { count, duration, table } from './format.ts';

function age(since: Date, now: Date): string {
  return `${duration(Math.max(0, now.getTime() - since.getTime()))} ago`;
}

/** `presence status` as an operator reads it: counts first, then what needs attention, then the audit. */
export function presenceStatusLines(model: PresenceModel, figures: PresenceFigures, runs: readonly RunRecord[]): string[] {
  const rows: [string, string, string][] = [
    ['users', count(figures.total), figures.total === 0 ? 'the collection is empty' : ''],
    ['online', count(figures.online), ''],
    [`  stale (> ${figures.staleMinutes} min)`, count(figures.stale), `online, last active before ${figures.staleCutoff.toISOString()}`],
    ['  no activity time', count(figures.onlineWithoutActivity), `online without a ${model.lastSeenField}`],
    ['offline', count(figures.offline), ''],
    ['no presence field', count(figures.withoutPresence), `no ${model.online.field}`],
    ['malformed presence', count(figures.malformed), figures.malformed > 0 ? 'wrong types: left alone by every write (presence test shows which)' : ''],
    [
      'oldest online activity',
      figures.oldestOnlineActivity ? figures.oldestOnlineActivity.toISOString() : '-',
      figures.oldestOnlineActivity ? age(figures.oldestOnlineActivity, figures.measuredAt) : '',
    ],
  ];
  for (const { spec, servedBy } of figures.indexes.indexes) {
    rows.push(['presence index', servedBy ? 'ok' : 'MISSING', `${indexKeyText(spec)}${servedBy ? ` (${servedBy})` : ': create it with the presence index task'}`]);
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  const numberWidth = Math.max(...rows.map(([, figure]) => figure.length));
  const lines = [
    `presence in ${figures.database}.${figures.collection}: online in ${describeOnline(model)}, last activity in ${model.lastSeenField}`,
    ...rows.map(([label, figure, note]) => `  ${label.padEnd(width)}  ${figure.padStart(numberWidth)}  ${note}`.trimEnd()),
  ];
  lines.push('', runs.length === 0 ? 'no presence runs recorded yet' : 'last presence runs');
  if (runs.length > 0) lines.push(...table(['STARTED', 'RUN', 'TASK', 'STATUS', 'RESULT', 'DURATION'], runs.map(runRow)).map((line) => `  ${line}`));
  return lines;
}

function runRow(run: RunRecord): string[] {
  const result = run.result
    ? `${count(run.result.written)} written, ${count(run.result.skipped)} skipped, ${count(run.result.failed)} failed`
    : run.plan
      ? `${count(run.plan.count)} planned`
      : (run.error?.message.slice(0, 60) ?? '-');
  return [
    run.startedAt.toISOString(),
    run._id,
    run.migration + (run.dryRun ? ' (dry run)' : ''),
    run.status,
    result,
    run.durationMs === undefined ? '-' : duration(run.durationMs),
  ];
}

/** `--json`: the figures, the model they were measured with, and the recent runs in brief. */
export function presenceStatusJson(model: PresenceModel, figures: PresenceFigures, runs: readonly RunRecord[]) {
  return {
    model,
    figures,
    lastRuns: runs.map((run) => ({
      runId: run._id,
      task: run.migration,
      dryRun: run.dryRun,
      status: run.status,
      startedAt: run.startedAt,
      durationMs: run.durationMs ?? null,
      result: run.result ?? null,
      error: run.error?.message ?? null,
    })),
  };
}
