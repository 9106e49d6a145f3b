import { appliedCounts, StepState, type RunRecord } from '../engine/run-record.ts';
import type { ConnectedFigures } from '../presence/connected-figures.ts';
import type { AskedVia } from '../socketio/ids-request.ts';
import type { PresenceFigures } from '../presence/figures.ts';
import { indexKeyText } from '../presence/indexes.ts';
import { describeOnline, type PresenceModel } from '../presence/model.ts';
import { count, duration, table } from './format.ts';

/** "3 d 4 h ago", "12 min ago": the age of an activity, to the unit an operator cares about. */
function age(since: Date, now: Date): string {
  const minutes = Math.max(0, Math.floor((now.getTime() - since.getTime()) / 60_000));
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min ago`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h ago`;
}

/** `presence status` as an operator reads it: counts first, then what needs attention, then the audit. */
export function presenceStatusLines(
  model: PresenceModel,
  figures: PresenceFigures,
  runs: readonly RunRecord[],
  connected?: ConnectedFigures,
): string[] {
  const { unknown } = figures;
  /** A count, or "unknown" with why: a figure not measured in time is never shown as zero. */
  const figure = (name: keyof PresenceFigures, note: string): [string, string] => {
    const value = figures[name];
    return typeof value === 'number' ? [count(value), note] : ['unknown', unknown[name] ?? ''];
  };
  const oldestKnown = unknown.oldestOnlineActivity === undefined;
  const rows: [string, string, string][] = [
    ['users', ...figure('total', figures.total === 0 ? 'the collection is empty' : 'estimated from collection metadata')],
    ['online', ...figure('online', '')],
    [`  stale (> ${figures.staleMinutes} min)`, ...figure('stale', `online, last active before ${figures.staleCutoff.toISOString()}`)],
    ['  no activity time', ...figure('onlineWithoutActivity', `online without a ${model.lastSeenField}`)],
    ['offline', ...figure('offline', '')],
    ['no presence field', ...figure('withoutPresence', `no ${model.online.field}`)],
    [
      'malformed presence',
      ...figure(
        'malformed',
        figures.malformed !== null && figures.malformed > 0
          ? 'wrong types among online users, null or unknown online values: left alone by every write (presence test shows which)'
          : '',
      ),
    ],
    [
      'oldest online activity',
      !oldestKnown ? 'unknown' : figures.oldestOnlineActivity ? age(figures.oldestOnlineActivity, figures.measuredAt) : '-',
      !oldestKnown
        ? unknown.oldestOnlineActivity!
        : figures.oldestOnlineActivity
          ? `at ${figures.oldestOnlineActivity.toISOString()}`
          : 'no online user has an activity time',
    ],
  ];
  if (figures.indexes === null) rows.push(['presence index', 'unknown', unknown.indexes ?? '']);
  for (const { spec, servedBy, conflict } of figures.indexes?.indexes ?? []) {
    if (servedBy) rows.push(['presence index', 'ok', `${indexKeyText(spec)} (${servedBy})`]);
    else if (conflict) rows.push(['presence index', 'CONFLICT', `${indexKeyText(spec)}: ${conflict}; drop it, then: presence run presence-indexes`]);
    else rows.push(['presence index', 'MISSING', `${indexKeyText(spec)}: create it with: presence run presence-indexes`]);
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  const numberWidth = Math.max(...rows.map(([, figure]) => figure.length));
  const lines = [
    `presence in ${figures.database}.${figures.collection}: online in ${describeOnline(model)}, last activity in ${model.lastSeenField}`,
    ...rows.map(([label, figure, note]) => `  ${label.padEnd(width)}  ${figure.padStart(numberWidth)}  ${note}`.trimEnd()),
  ];
  lines.push('', ...connectedLines(connected));
  lines.push('', runs.length === 0 ? 'no presence runs recorded yet' : 'last presence runs');
  if (runs.length > 0) lines.push(...table(['STARTED', 'RUN', 'TASK', 'STATUS', 'RESULT', 'DURATION'], runs.map(runRow)).map((line) => `  ${line}`));
  return lines;
}

/** The database against who is really connected, or how to set that up. */
function connectedLines(connected: ConnectedFigures | undefined): string[] {
  if (connected === undefined) {
    return [
      'connected users: no source configured. Ghosts are guessed from inactivity until one is:',
      "  --connected <url> (the app's presence endpoint, token in $PRESENCE_CONNECTED_TOKEN) or --connected-redis <uri>",
    ];
  }
  if (connected.state === 'unknown') return [`connected users: UNKNOWN (${connected.reason})`];
  const rows: [string, number, string][] = [
    ['connected users', connected.connected, `${count(connected.sockets)} socket(s) on ${count(connected.servers)} server(s)`],
    ['  online in the database', connected.onlineConnected, ''],
    ['ghosts', connected.ghosts, `online in the database, not connected, inactive > ${connected.graceSeconds} s: presence reconcile`],
    ['missing', connected.missing, 'connected, shown offline: presence reconcile --fix-missing'],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const numberWidth = Math.max(...rows.map(([, figure]) => count(figure).length));
  return [
    `against ${connected.source}, asked at ${connected.at.toISOString()} ${viaText(connected.via)}`,
    ...rows.map(([label, figure, note]) => `  ${label.padEnd(width)}  ${count(figure).padStart(numberWidth)}  ${note}`.trimEnd()),
  ];
}

function viaText(via: AskedVia): string {
  if (via === 'ids') return 'for user ids (presenceResponder on every server)';
  // What a missing responder looks like: the way that copies every socket's handshake through the cluster.
  return 'with fetchSockets() (every socket and its handshake: a server runs no presenceResponder, docs/socketio.md)';
}

function runRow(run: RunRecord): string[] {
  const applied = appliedCounts(run);
  const result = applied
    ? `${count(applied.written)} written, ${count(applied.skipped)} skipped, ${count(applied.failed)} failed`
    : run.plan.state === StepState.done
      ? `${count(run.plan.count)} planned`
      : (run.error?.message.slice(0, 60) ?? '-');
  return [
    run.startedAt.toISOString(),
    run._id,
    run.migration + (run.dryRun ? ' (dry run)' : ''),
    run.status,
    result,
    run.durationMs === null ? '-' : duration(run.durationMs),
  ];
}

/** `--json`: the figures, the model they were measured with, and the recent runs in brief. */
export function presenceStatusJson(model: PresenceModel, figures: PresenceFigures, runs: readonly RunRecord[], connected?: ConnectedFigures) {
  return {
    model,
    figures,
    connected: connected ?? { state: 'not-configured' },
    lastRuns: runs.map((run) => ({
      runId: run._id,
      task: run.migration,
      dryRun: run.dryRun,
      status: run.status,
      startedAt: run.startedAt,
      durationMs: run.durationMs,
      result: appliedCounts(run) ?? null,
      error: run.error?.message ?? null,
    })),
  };
}
