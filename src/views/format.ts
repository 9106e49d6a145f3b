import { EJSON } from 'bson';
import type { PlanReport } from '../engine/plan.ts';
import type { PlanKind } from '../engine/task.ts';
import { outcomeOf, RunKind, StepState, TargetingSource, type ApplyCounts, type PlanSummary, type RestoreCounts, type RunConcerns, type RunRecord, type VerifyCounts } from '../engine/run-record.ts';

const integer = new Intl.NumberFormat('en-US');

export function count(value: number): string {
  return integer.format(value);
}

export function bytes(value: number): string {
  if (value < 1024) return `${value} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let scaled = value / 1024;
  let unit = 0;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return `${scaled.toFixed(scaled < 10 ? 1 : 0)} ${units[unit]}`;
}

/** As a person says it: `850 ms`, `12.3 s`, `1 min 12 s`, `2 h 5 min`, `3 d 4 h`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  const hours = Math.round(minutes / 60);
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export function progressBar(done: number, total: number, width = 24): string {
  const ratio = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(ratio * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${Math.floor(ratio * 100)}% ${count(done)}/${count(total)}`;
}

export function value(v: unknown): string {
  return EJSON.stringify(v, { relaxed: true });
}

const TARGETING_ORIGIN = { detected: 'read from config.collections', flag: 'given by --shard-key' } as const;

/** The plan as an operator reads it: what, how many, and a few before → after. */
const WHAT_PLAN_DOES: Record<PlanKind, (report: PlanReport) => string> = {
  update: () => 'to change',
  indexes: () => 'to change',
  delete: () => 'to delete (each backed up whole)',
  archive: (report) => `to move to ${report.into} (each backed up whole)`,
};

/** A whole document in a line a terminal can show. */
function clipped(text: string, width = 120): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

export function planLines(report: PlanReport): string[] {
  const lines = [
    `${report.step === undefined ? '' : `step ${report.step.index} of ${report.step.of} · ${report.kind ?? 'update'} `}${report.collection} where ${clipped(report.filter, 300)}`,
    report.estimatedBackupBytes > 0
      ? `${count(report.count)} document(s) ${WHAT_PLAN_DOES[report.kind ?? 'update'](report)}; backup about ${bytes(report.estimatedBackupBytes)} before compression`
      : `${count(report.count)} document(s) ${WHAT_PLAN_DOES[report.kind ?? 'update'](report)}`,
  ];
  const targeting = report.targeting;
  if (targeting !== undefined && targeting.source !== TargetingSource.none) {
    lines.push(`every write's filter carries the shard key ${targeting.fields.join(',')} (${TARGETING_ORIGIN[targeting.source]})`);
  }
  for (const sample of report.sample) {
    if (report.kind === 'delete' || report.kind === 'archive') {
      lines.push(`  _id ${value(sample._id)}  ${clipped(Object.keys(sample.before).map((field) => `${field}: ${value(sample.before[field])}`).join(', '))}`);
      continue;
    }
    const changes = Object.keys({ ...sample.before, ...sample.after })
      .filter((field) => value(sample.before[field]) !== value(sample.after[field]))
      .map((field) => `${field}: ${show(sample.before, field)} → ${show(sample.after, field)}`);
    lines.push(`  _id ${value(sample._id)}  ${changes.join(', ')}`);
  }
  return lines;
}

/** How the run reads and writes, whatever the URI asked: said with the plan. */
export function concernsLine(concerns: RunConcerns): string {
  const { reads, writes, planReads } = concerns;
  const timeout = writes.wtimeoutMS === undefined ? '' : `, wtimeout ${writes.wtimeoutMS} ms`;
  return `reads that decide or check writes: ${reads.readPreference}, read concern ${reads.readConcern} · writes: w ${writes.w}${timeout}${writes.retryable ? ', retryable' : ''} · plan read from: ${planReads.readPreference}`;
}

function show(image: Record<string, unknown>, field: string): string {
  return field in image ? value(image[field]) : '(absent)';
}

/** One line per step, from the record as it stands when the step ends. */
export function stepSummary(step: string, record: Readonly<RunRecord>): string {
  switch (step) {
    case 'lock':
      return record.lockTakeover ? `held (taken over from run ${record.lockTakeover.previousRunId})` : 'held';
    case 'plan':
      if (record.plan.state !== StepState.done) return 'done';
      return record.steps === undefined
        ? `${count(record.plan.count)} document(s) in ${record.plan.collection}`
        : `${count(record.plan.count)} document(s) in ${record.steps.length} steps (${record.plan.collection})`;
    case 'confirm':
      return confirmSummary(record);
    case 'backup':
      return record.kind === RunKind.run && record.backup.state === StepState.done
        ? `${count(record.backup.count)} document(s), ${bytes(record.backup.bytes)}`
        : 'done';
    case 'apply':
      if (record.kind === RunKind.restore) {
        if (record.restore.state !== StepState.done) return 'done';
        return restoreCounts(record.restore);
      }
      return record.result.state === StepState.done ? applyCounts(record.result) : 'done';
    case 'verify':
      return record.verify.state === StepState.done ? verifyCounts(record.verify) : 'done';
    case 'audit':
      return `run ${record._id} recorded as ${record.status}`;
    default:
      return 'done';
  }
}

function confirmSummary(record: Readonly<RunRecord>): string {
  const window = !record.window?.windows.length
    ? 'no maintenance window set'
    : record.window.inside
      ? 'inside the maintenance window'
      : record.window.overrideReason
        ? `outside the window, overridden: ${record.window.overrideReason}`
        : 'outside the maintenance window';
  const confirmed = record.dryRun
    ? 'dry run'
    : record.confirmation?.by === 'typed-database-name'
      ? 'confirmed by typing the database name'
      : record.confirmation?.by === 'expected-count'
        ? `count matches --expect ${record.confirmation.expected}`
        : 'no confirmation needed';
  return `${record.env} · ${window} · ${confirmed}`;
}

function restoreCounts(r: RestoreCounts): string {
  return `${count(r.restored)} restored, ${count(r.alreadyRestored)} already restored, ${count(r.conflicts)} changed since the run${r.forced ? `, ${count(r.forced)} forced` : ''}`;
}

function applyCounts(r: ApplyCounts): string {
  const parts = [`${count(r.written)} written`, `${count(r.skipped)} skipped (changed since plan)`, `${count(r.failed)} failed`];
  if (r.remaining > 0) parts.push(`${count(r.remaining)} not attempted`);
  return parts.join(', ');
}

function verifyCounts(v: VerifyCounts): string {
  const changedSince = v.changedSince ? ` (${count(v.changedSince)} changed since by another writer)` : '';
  return `${count(v.inTargetState)} in the intended state, ${count(v.notInTargetState)} not${changedSince}, ${count(v.missing)} missing`;
}

/** The closing lines after the steps: outcome, backup, how to undo. */
export function outcomeLines(record: Readonly<RunRecord>): string[] {
  const what = record.kind === RunKind.restore ? `restore of run ${record.restoreOf}` : `${record.migration}${record.dryRun ? ' (dry run)' : ''}`;
  const lines = [`${what}: ${record.status} in ${duration(record.durationMs ?? 0)} · run ${record._id}`];
  if (record.error) lines.push(`error at ${record.error.step}: ${record.error.message}`);
  if (record.kind === RunKind.run) {
    if (record.result.state === StepState.done) lines.push(applyCounts(record.result));
    if (record.backup.state === StepState.done) {
      lines.push(`backup: ${record.backup.path} (${count(record.backup.count)} documents, sha256 ${record.backup.sha256.slice(0, 12)}…)`);
      if (record.result.state === StepState.done && record.result.written > 0) lines.push(`undo with: presence restore ${record._id}`);
    }
  }
  for (const step of stepViews(record)) lines.push(`  ${step.label} · ${step.what}: ${step.counts}`);
  for (const notice of record.notices) lines.push(`note: ${notice}`);
  return lines;
}

/** One step of a run whose task planned several, or of its restore, as every view shows it. */
export interface StepView {
  /** `step 2 of 3`: its place in the task, whatever order a restore undid it in. */
  label: string;
  /** `archive memberships → app.memberships_archive`. */
  what: string;
  counts: string;
  plan?: PlanSummary;
}

/** The steps of a run (in order) or of its restore (in the order undone); none for a run of one step. */
export function stepViews(record: Readonly<RunRecord>): StepView[] {
  const steps: ReadonlyArray<{ plan: RunRecord['plan']; counts: string | undefined }> =
    record.kind === RunKind.run
      ? (record.steps ?? []).map((step) => ({ plan: step.plan, counts: shownIfDone(outcomeOf(step.result), applyCounts) }))
      : (record.steps ?? []).map((step) => ({ plan: step.plan, counts: shownIfDone(outcomeOf(step.restore), restoreCounts) }));
  return steps.map(({ plan, counts }, position) => {
    const summary = outcomeOf(plan);
    const label = summary?.step === undefined ? `step ${position + 1}` : `step ${summary.step.index} of ${summary.step.of}`;
    if (summary === undefined) return { label, what: 'not planned', counts: 'not reached' };
    const what = `${summary.kind ?? 'update'} ${summary.collection}${summary.into === undefined ? '' : ` → ${summary.into}`}`;
    return { label, what, counts: counts ?? (record.dryRun ? `${count(summary.count)} planned` : `${count(summary.count)} planned, not reached`), plan: summary };
  });
}

function shownIfDone<T>(counts: T | undefined, show: (value: T) => string): string | undefined {
  return counts === undefined ? undefined : show(counts);
}

export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}
