import { html } from 'hono/html';
import { bytes, concernsLine, count, duration, stepViews, value } from '../../views/format.ts';
import { sampleFromText, type PlanSample } from '../../engine/plan.ts';
import { outcomeOf, RunKind, RunStep, TargetingSource, type RunRecord } from '../../engine/run-record.ts';
import { facts, instant, table, type Html } from './layout.ts';
import { progressCell, resultText, statusBadge } from './runs.ts';

/** Everything the record says of one run; no document beyond the plan's sample, no backup content. */
export function runBody(record: RunRecord): Html {
  const plan = outcomeOf(record.plan);
  return html`
${facts([
  ['task', record.kind === RunKind.restore ? html`restore of run <a href="/runs/${record.restoreOf}">${record.restoreOf}</a>` : record.migration],
  ['status', statusBadge(record)],
  ['dry run', record.dryRun ? 'yes: nothing written' : 'no'],
  ['operator', record.operator],
  ['written by', record.toolVersion === undefined ? 'not recorded (an earlier release)' : `presence-maint ${record.toolVersion}`],
  ['target', `${record.target.uri} (database ${record.target.database}, ${record.env})`],
  ['started', instant(record.startedAt)],
  ['ended', record.endedAt ? instant(record.endedAt) : 'not yet'],
  ['duration', record.durationMs === null ? undefined : duration(record.durationMs)],
  ['parameters', html`<code>${value(record.params)}</code>`],
  ['continues', record.kind === RunKind.run && record.continues ? html`<a href="/runs/${record.continues.runId}">${record.continues.runId}</a> from entry ${count(record.continues.checkpoint)}` : undefined],
  ['error', record.error ? `at ${record.error.step}: ${record.error.message}` : undefined],
])}
<section><h2>Progress</h2>${progressCell(record)}</section>
<section><h2>Plan</h2>
${
  plan
    ? html`${facts([
        ['collection', plan.collection],
        ['filter', html`<code>${plan.filter}</code>`],
        ['fields', plan.fields.join(', ')],
        ['documents', count(plan.count)],
        ['backup to expect', plan.estimatedBackupBytes > 0 ? `about ${bytes(plan.estimatedBackupBytes)} before compression` : undefined],
        ['shard key', plan.targeting && plan.targeting.source !== TargetingSource.none ? `${plan.targeting.fields.join(', ')} (${plan.targeting.source})` : undefined],
        ['concerns', record.concerns ? concernsLine(record.concerns) : undefined],
      ])}
${sampleTable(sampleFromText(plan.sample))}`
    : html`<p>Not reached.</p>`
}
</section>
${planStepsSection(record)}
<section><h2>Steps</h2>${stepsTable(record)}</section>
<section><h2>Counts</h2>${countsBody(record)}</section>
<section><h2>Safety</h2>${safetyBody(record)}</section>
${listSection('Notices', record.notices)}
${listSection('Back-off', record.backoff ?? [])}
${listSection('Steering', (record.requests ?? []).map((request) => html`${request.action} asked by ${request.by} at ${instant(request.at)}`))}
${listSection('Window pauses', (record.windowPauses ?? []).map((pause) => html`paused at ${instant(pause.pausedAt)}${pause.resumedAt ? html`, resumed at ${instant(pause.resumedAt)}` : ''}`))}
${listSection('Notifications', (record.notifications ?? []).map((sent) => `${sent.event} to ${sent.receiver}: ${sent.delivered ? 'delivered' : `not delivered (${sent.error ?? 'no answer'})`} after ${sent.attempts} attempt(s)`))}
${backupAndRestore(record)}`;
}

/** The plan's sample as the operator saw it: each document's changed fields, before → after. */
function sampleTable(sample: readonly PlanSample[]): Html {
  if (sample.length === 0) return html`<p>No sample kept with this record.</p>`;
  return html`<h3>Sample, before → after</h3>${table(
    ['_id', 'changes'],
    sample.map((document) => {
      const fields = Object.keys({ ...document.before, ...document.after }).filter((field) => value(document.before[field]) !== value(document.after[field]));
      return [
        html`<code>${value(document._id)}</code>`,
        html`${fields.map((field) => html`<div><code>${field}</code>: <code>${shown(document.before, field)}</code> → <code>${shown(document.after, field)}</code></div>`)}`,
      ];
    }),
    'sample',
  )}`;
}

function shown(image: Record<string, unknown>, field: string): string {
  return field in image ? value(image[field]) : '(absent)';
}

/** A task that planned several steps: each with its kind, collection and counts (a restore's, in the order undone). */
function planStepsSection(record: RunRecord): Html {
  const steps = stepViews(record);
  if (steps.length === 0) return html``;
  return html`<section><h2>Plan steps</h2>${table(
    ['step', 'does', 'documents', 'counts'],
    steps.map((step) => [step.label, step.what, step.plan ? count(step.plan.count) : '-', step.counts]),
    'plan-steps',
  )}</section>`;
}

function stepsTable(record: RunRecord): Html {
  const took = (step: RunStep): Html | string => {
    const ms = record.stepMs[step];
    if (ms !== undefined) return duration(ms);
    // The record is the audit: its own writing is not timed in it.
    if (step === RunStep.audit) return record.endedAt ? html`recorded at ${instant(record.endedAt)}` : 'not yet';
    if (record.dryRun && (step === RunStep.backup || step === RunStep.apply || step === RunStep.verify)) return 'skipped: dry run';
    return record.endedAt ? 'not reached' : 'not yet';
  };
  return table(['step', 'took'], Object.values(RunStep).map((step) => [step, took(step)]), 'steps');
}

function countsBody(record: RunRecord): Html {
  const verify = outcomeOf(record.verify);
  const rows: Array<[string, string | undefined]> = [['result', resultText(record)]];
  if (record.kind === RunKind.run) {
    const result = outcomeOf(record.result);
    if (result) {
      rows.push(
        ['planned', count(result.planned)],
        ['written', count(result.written)],
        ['skipped (changed since the plan)', count(result.skipped)],
        ['failed', count(result.failed)],
        ['not attempted', count(result.remaining)],
      );
    }
  } else {
    const restore = outcomeOf(record.restore);
    if (restore) {
      rows.push(
        ['restored', count(restore.restored)],
        ['already restored', count(restore.alreadyRestored)],
        ['changed since the run', count(restore.conflicts)],
        ['forced', count(restore.forced)],
        ['not attempted', count(restore.remaining)],
      );
    }
  }
  if (verify) {
    rows.push(
      ['verified in the intended state', count(verify.inTargetState)],
      ['verified not in it', `${count(verify.notInTargetState)}${verify.changedSince ? ` (${count(verify.changedSince)} changed since by another writer)` : ''}`],
      ['missing at verify', count(verify.missing)],
    );
  }
  return facts(rows);
}

function safetyBody(record: RunRecord): Html {
  const window = record.window;
  const windowText = !window
    ? 'not reached'
    : window.windows.length === 0
      ? 'no maintenance window set'
      : `${window.inside ? 'inside' : 'outside'} ${window.windows.join(', ')}${window.overrideReason ? `, overridden: ${window.overrideReason}` : ''}`;
  const confirmation = record.dryRun
    ? 'dry run: none needed'
    : !record.confirmation
      ? 'not reached'
      : record.confirmation.by === 'typed-database-name'
        ? 'the database name, typed'
        : record.confirmation.by === 'expected-count'
          ? `--yes with --expect ${record.confirmation.expected}${record.confirmation.tolerance ? ` (tolerance ${record.confirmation.tolerance})` : ''}`
          : `not required on ${record.env}`;
  return facts([
    ['environment', record.env],
    ['window', windowText],
    ['confirmation', confirmation],
    ['lock', record.lockTakeover ? `taken over from run ${record.lockTakeover.previousRunId} of ${record.lockTakeover.previousOwner} (${record.lockTakeover.reason ?? 'expired'})` : record.lockHeld ? 'held' : 'not held'],
    ['stopped by', record.stoppedBy ? record.stoppedBy.message : undefined],
  ]);
}

function listSection(title: string, items: ReadonlyArray<Html | string>): Html {
  return items.length === 0 ? html`` : html`<section><h2>${title}</h2><ul>${items.map((item) => html`<li>${item}</li>`)}</ul></section>`;
}

/** Where the backup is (never what is in it), and the command that undoes the run. */
function backupAndRestore(record: RunRecord): Html {
  if (record.kind !== RunKind.run) return html``;
  const backup = outcomeOf(record.backup);
  if (!backup) return html`<section><h2>Backup</h2><p>${record.dryRun ? 'None: a dry run writes nothing.' : 'None taken: the run stopped before its backup.'}</p></section>`;
  const result = outcomeOf(record.result);
  const restore = `presence restore ${record._id}`;
  const host = record.operator.slice(record.operator.indexOf('@') + 1);
  return html`<section><h2>Backup</h2>
${facts([
  ['path', html`<code>${backup.path}</code>`],
  ['size', `${bytes(backup.bytes)} (${count(backup.bytes)} bytes)`],
  ['documents', count(backup.count)],
  ['sha256', html`<code>${backup.sha256}</code>`],
])}
<h3>Undo</h3>
${
  result && result.written > 0
    ? html`<p>On ${host}, where the backup is, against the same target:</p><pre><code data-restore-command>${restore}</code></pre>
${record.env === 'production' ? html`<p>On production, in a script: <code>${restore} --yes --expect ${backup.count}</code></p>` : ''}
<p>Documents changed since the run are reported, not overwritten (<code>--force</code> overwrites them); restoring twice changes nothing.</p>`
    : html`<p>Nothing was written, so there is nothing to undo.</p>`
}
</section>`;
}
