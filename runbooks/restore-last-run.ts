#!/usr/bin/env -S node --import tsx
/**
 * Undoes the latest run of a task: finds it in the audit (presence history),
 * shows what will be put back (the run, a sample of its backup, the restore's
 * dry run), asks, then restores. Documents changed since the run are reported
 * and left alone unless --force.
 */
import { outcomeOf, RunKind, type RestoreRecord, type RunRecord, type TaskRunRecord } from '../src/engine/run-record.ts';
import { presenceStep, stopOnSignals } from './lib/cli.ts';
import { confirmWrite } from './lib/confirm.ts';
import { backupSample } from './lib/backup-sample.ts';
import { confirmedWriteArgs, parseRunbookArgs, required, targetUri, writeArgs, writeOptions, WRITE_OPTIONS_HELP, YES_HELP } from './lib/options.ts';
import { assertInsideWindow, resultLine, windowLine } from './lib/report.ts';
import { Journal, RunbookError, RunbookExit, runbook } from './lib/runbook.ts';

const SAMPLE_SIZE = 5;
/** How far back the audit is searched for the task's latest run. */
const HISTORY_LIMIT = 1000;

const USAGE = `
Usage: node --import tsx runbooks/restore-last-run.ts --task <id> [--uri <uri>] [options]

Restores the latest run of a task (not a dry run, with a backup on this host):
shows the run and a sample of what will be put back, dry-runs the restore,
asks, then restores with --expect set from the dry run. Documents changed
since the run are reported, not overwritten, unless --force.

  --uri <uri>                 the target (default: $MONGODB_URI; one is required)
  --task <id>                 whose latest run to restore, e.g. presence-cleanup
  --force                     also overwrite documents changed since the run${YES_HELP}${WRITE_OPTIONS_HELP}
                              (--env defaults to the environment the run was recorded in)

Exit codes: 0 restored · 1 no run to restore, or the restore failed · 2 bad usage
            3 database unreachable · 4 refused (no confirmation, outside the window, count changed)`;

await runbook('restore-last-run', async () => {
  const values = parseRunbookArgs(process.argv.slice(2), { uri: { type: 'string' }, task: { type: 'string' }, force: { type: 'boolean' }, ...writeOptions }, USAGE);
  if (!values) return;
  const target = ['--uri', targetUri(values.uri, '--uri', 'MONGODB_URI')];
  const taskId = required(values.task, '--task');
  const confirmed = confirmedWriteArgs(values);
  writeArgs(values); // bad flags stop the runbook before its first step
  stopOnSignals();
  const journal = new Journal();

  const history = await presenceStep<RunRecord[]>('history', ['history', ...target, '--task', taskId, '--limit', String(HISTORY_LIMIT)]);
  const last = history.find(
    (record): record is TaskRunRecord => record.kind === RunKind.run && !record.dryRun && outcomeOf(record.backup) !== undefined,
  );
  const backup = last && outcomeOf(last.backup);
  if (!last || !backup) {
    throw new RunbookError(`no run of ${taskId} with a backup in the audit of this target: nothing to restore`, RunbookExit.failed, 'history');
  }
  journal.ok(
    'history',
    `latest run of ${taskId}: ${last._id} (${last.migration}, ${last.status}, ${last.env}) started ${last.startedAt.toISOString()} by ${last.operator}: ${resultLine(last)}`,
  );
  const earlier = history.find((record) => record.kind === 'restore' && !record.dryRun && record.restoreOf === last._id && record.status === 'succeeded');
  if (earlier) journal.note(`already restored by run ${earlier._id} (${earlier.startedAt.toISOString()}): restoring again leaves what is already restored alone`);

  const write = [...writeArgs({ ...values, env: values.env ?? last.env }), ...(values.force ? ['--force'] : [])];
  const restore = ['restore', last._id, ...target, ...write];
  const dryRun = await presenceStep<RestoreRecord>('restore dry run', [...restore, '--dry-run']);
  const plan = outcomeOf(dryRun.plan);
  const planned = plan?.count ?? 0;
  const where = `${dryRun.target.database} (${dryRun.env})`;
  journal.ok('restore dry run', `${planned} document(s) of ${plan?.collection ?? '?'} would get their ${plan?.fields.join(', ') ?? ''} back in ${where} · run ${dryRun._id}`);
  const sample = await backupSample(backup.path, SAMPLE_SIZE);
  if (sample.length > 0) journal.note('as the run left them → as the restore puts them back:');
  for (const line of sample) journal.note(line);
  if (sample.length < planned) journal.note(`… ${planned - sample.length} more (backup: ${backup.path})`);
  assertInsideWindow(dryRun, values['outside-window'], 'window');

  const by = await confirmWrite({ yes: values.yes === true, what: `This restores ${planned} document(s) of run ${last._id} in ${where}.`, database: dryRun.target.database });
  journal.ok('confirm', `${by}; the restore must plan ${planned} (--expect)`);
  const restored = await presenceStep<RestoreRecord>('restore', [...restore, ...confirmed(planned)]);
  const counts = outcomeOf(restored.restore);
  const changed = values.force
    ? `${counts?.forced ?? 0} changed since the run, overwritten (--force)`
    : `${counts?.conflicts ?? 0} changed since the run, left alone (--force overwrites them)`;
  journal.ok('restore', `${counts?.restored ?? 0} restored, ${counts?.alreadyRestored ?? 0} already as backed up, ${changed} · ${windowLine(restored, values['outside-window'])}`);
  journal.summary(`run ${last._id} of ${taskId} restored in ${where}: ${counts?.restored ?? 0} document(s) put back, ${changed} · restore run ${restored._id}`);
});
