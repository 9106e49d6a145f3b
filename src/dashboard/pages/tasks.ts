import { html } from 'hono/html';
import type { TaskState } from '../../engine/task-states.ts';
import { instant, table, type Html } from './layout.ts';

export function tasksBody(tasks: readonly TaskState[]): Html {
  if (tasks.length === 0) return html`<p>No task found in the tasks directory.</p>`;
  return table(
    ['task', 'version', 'mode', 'state', 'last run of this version', 'checksum', 'description'],
    tasks.map((task) => [
      html`<a href="/runs?task=${encodeURIComponent(task.task)}">${task.task}</a>`,
      task.version,
      task.mode,
      html`<span class="state state-${task.state}" data-task-state>${task.state}</span>`,
      task.lastRun
        ? html`<a href="/runs/${task.lastRun.runId}">${task.lastRun.status}${task.lastRun.dryRun ? ' (dry run)' : ''}</a> ${instant(task.lastRun.startedAt)}`
        : '-',
      task.checksumDrift
        ? html`<span class="bad" data-drift>source changed since its last run without a version bump: bump the version</span>`
        : task.lastRun
          ? 'same as its last run'
          : '-',
      task.description,
    ]),
    'tasks',
  );
}
