import { outcomeOf, RunKind, type RunRecord, type RunStatus } from '../../engine/run-record.ts';
import { count, duration, stepViews } from '../../views/format.ts';

/** What a notification says happened to a run. */
export const NotifyEvent = {
  started: 'started',
  succeeded: 'succeeded',
  failed: 'failed',
  refused: 'refused',
  interrupted: 'interrupted',
  paused: 'paused',
  resumed: 'resumed',
  cancelled: 'cancelled',
} as const;
export type NotifyEvent = (typeof NotifyEvent)[keyof typeof NotifyEvent];

/**
 * The event each status a record is saved with announces. `paused` and `cancelled` are listed ahead of the
 * statuses themselves (issue 13): once a run can take them, its record's status change is announced as is.
 */
const EVENT_OF_STATUS: Readonly<Record<RunStatus | 'paused' | 'cancelled', NotifyEvent>> = {
  running: NotifyEvent.started,
  succeeded: NotifyEvent.succeeded,
  failed: NotifyEvent.failed,
  refused: NotifyEvent.refused,
  interrupted: NotifyEvent.interrupted,
  paused: NotifyEvent.paused,
  cancelled: NotifyEvent.cancelled,
};

/** The event of a record's new status; `running` again after `paused` is a resume, not a second start. */
export function eventOf(status: RunRecord['status'], previous: NotifyEvent | undefined): NotifyEvent {
  const event = EVENT_OF_STATUS[status];
  return event === NotifyEvent.started && previous === NotifyEvent.paused ? NotifyEvent.resumed : event;
}

/**
 * One body for every receiver: `text` is all a Slack incoming webhook and a Teams connector (MessageCard) need,
 * and both ignore the other fields; `summary` is the MessageCard's notification line. A generic receiver reads
 * the structured fields. The target is the record's, already redacted; nothing here holds a receiver's URL.
 */
export function payloadOf(event: NotifyEvent, record: Readonly<RunRecord>, at: Date) {
  const headline = headlineOf(event, record);
  return {
    text: headline,
    summary: headline,
    event,
    runId: record._id,
    kind: record.kind,
    task: record.migration,
    status: record.status,
    dryRun: record.dryRun,
    env: record.env,
    target: record.target,
    operator: record.operator,
    startedAt: record.startedAt.toISOString(),
    at: at.toISOString(),
    durationMs: record.durationMs,
    counts: countsOf(record),
    ...(record.steps === undefined ? {} : { steps: stepsOf(record) }),
    ...(record.error === undefined ? {} : { error: record.error }),
  };
}

export type NotifyPayload = ReturnType<typeof payloadOf>;

function countsOf(record: Readonly<RunRecord>): Record<string, number> | null {
  const counts = record.kind === RunKind.run ? outcomeOf(record.result) : outcomeOf(record.restore);
  if (counts !== undefined) {
    const { state: _state, ...figures } = counts;
    return figures;
  }
  const plan = outcomeOf(record.plan);
  return plan === undefined ? null : { planned: plan.count };
}

/** Each step of a run of several (or of its restore, in the order undone): what it does and its counts so far. */
function stepsOf(record: Readonly<RunRecord>) {
  return stepViews(record).map(({ label, what, counts }) => ({ step: label, what, counts }));
}

function headlineOf(event: NotifyEvent, record: Readonly<RunRecord>): string {
  const what = record.kind === RunKind.restore ? `restore of run ${record.restoreOf}` : `${record.migration}${record.dryRun ? ' (dry run)' : ''}`;
  const where = `on ${record.target.database} (${record.env})`;
  const head = `presence: ${what} ${where}, run ${record._id}: ${event}`;
  if (event === NotifyEvent.started || event === NotifyEvent.resumed) return `${head} by ${record.operator}`;
  const counts = countsOf(record);
  const figures = counts === null ? '' : ` · ${Object.entries(counts).map(([name, value]) => `${count(value)} ${name}`).join(', ')}`;
  const took = record.durationMs === null ? '' : ` in ${duration(record.durationMs)}`;
  const why = record.error === undefined ? '' : ` · ${record.error.step}: ${record.error.message}`;
  const steps = stepViews(record).map(({ label, what, counts }) => `\n${label} · ${what}: ${counts}`).join('');
  return `${head}${took}${figures}${why}${steps}`;
}
