import { html } from 'hono/html';
import { count, duration } from '../../views/format.ts';
import { runProgressLine } from '../../views/progress.ts';
import { activeStatuses, appliedCounts, RunKind, RunStatus, StepState, type RunProgress, type RunRecord } from '../../engine/run-record.ts';
import type { RunsQuery } from '../data.ts';
import { instant, table, type Html } from './layout.ts';

/** A run's progress as the page and its refresh show it: the same line `presence runs` prints. */
function progressView(record: RunRecord, progress: RunProgress) {
  const percent = progress.planned === 0 ? 100 : Math.floor((progress.done / progress.planned) * 100);
  return { done: progress.done, planned: progress.planned, percent, state: progress.state, line: runProgressLine(record, progress), at: progress.at };
}

/** What the page's script polls for a run it shows live. */
export function liveRun(record: RunRecord) {
  return {
    runId: record._id,
    status: record.status,
    active: activeStatuses.includes(record.status),
    request: record.request?.action ?? null,
    progress: record.progress ? progressView(record, record.progress) : null,
    result: resultText(record),
  };
}

/** A progress bar that the page's script keeps moving while the run is active; static without script. */
export function progressCell(record: RunRecord): Html {
  const progress = record.progress ? progressView(record, record.progress) : undefined;
  const active = activeStatuses.includes(record.status);
  return html`<div class="progress" data-run="${record._id}"${active ? html` data-live-run="${record._id}"` : ''}>
<progress max="${progress?.planned ?? 1}" value="${progress?.done ?? 0}" aria-label="documents settled">${progress?.percent ?? 0}%</progress>
<span data-progress-line>${progress ? progress.line : active ? 'not writing yet (plan or backup)' : resultText(record)}</span>
</div>`;
}

export function statusBadge(record: RunRecord): Html {
  const asked = record.request ? ` (${record.request.action} asked)` : '';
  return html`<span class="status status-${record.status}" data-status>${record.status}${asked}</span>`;
}

/** The counts an operator checks first: what was written, or what was planned when nothing was. */
export function resultText(record: RunRecord): string {
  if (record.kind === RunKind.restore) {
    return record.restore.state === StepState.done
      ? `${count(record.restore.restored)} restored, ${count(record.restore.conflicts)} changed since the run`
      : record.error?.message ?? '-';
  }
  const applied = appliedCounts(record);
  if (applied) return `${count(applied.written)} written, ${count(applied.skipped)} skipped, ${count(applied.failed)} failed`;
  if (record.error) return record.error.message;
  return record.plan.state === StepState.done ? `${count(record.plan.count)} planned` : '-';
}

export function runsBody(records: readonly RunRecord[], query: RunsQuery, knownTaskIds: readonly string[]): Html {
  const taskIds = [...new Set([...knownTaskIds, ...(query.taskId ? [query.taskId] : [])])];
  const last = records.at(-1);
  const older = records.length === query.limit && last ? olderLink(query, last.startedAt) : undefined;
  return html`
<form class="filters" method="get" action="/runs">
<label>Task <select name="task"><option value="">every task</option>${taskIds.map(
    (id) => html`<option value="${id}"${id === query.taskId ? html` selected` : ''}>${id}</option>`,
  )}</select></label>
<label>Status <select name="status"><option value="">every status</option>${Object.values(RunStatus).map(
    (status) => html`<option value="${status}"${status === query.status ? html` selected` : ''}>${status}</option>`,
  )}</select></label>
<button type="submit">Filter</button>
</form>
${
  records.length === 0
    ? html`<p>No run recorded${query.taskId || query.status ? ' with these filters' : ' yet'}.</p>`
    : table(
        ['started', 'run', 'task', 'status', 'progress or result', 'duration', 'operator'],
        records.map((record) => [
          instant(record.startedAt),
          html`<a href="/runs/${record._id}">${record._id}</a>`,
          `${record.kind === RunKind.restore ? `restore of ${record.restoreOf}` : record.migration}${record.dryRun ? ' (dry run)' : ''}`,
          statusBadge(record),
          progressCell(record),
          record.durationMs === null ? '-' : duration(record.durationMs),
          record.operator,
        ]),
        'runs',
      )
}
${older ? html`<p><a href="${older}" rel="next">Older runs</a></p>` : ''}`;
}

function olderLink(query: RunsQuery, before: Date): string {
  const params = new URLSearchParams();
  if (query.taskId) params.set('task', query.taskId);
  if (query.status) params.set('status', query.status);
  params.set('before', before.toISOString());
  params.set('limit', String(query.limit));
  return `/runs?${params}`;
}
