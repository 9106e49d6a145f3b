#!/usr/bin/env -S node --import tsx
/**
 * A production run rehearsed first: the dry run on production, the same task
 * and parameters applied on staging, the counts compared, and only then the
 * production run, inside a maintenance window and with --expect set from the
 * dry run. Outside every window it refuses before writing anywhere, unless an
 * override reason is given (passed on as --outside-window, and audited).
 */
import { outcomeOf, type TaskRunRecord } from '../src/engine/run-record.ts';
import { presenceStep, stopOnSignals } from './lib/cli.ts';
import { confirmWrite } from './lib/confirm.ts';
import { confirmedWriteArgs, parseRunbookArgs, required, targetUri, writeArgs, writeOptions, YES_HELP } from './lib/options.ts';
import { assertInsideWindow, resultLine, undoHint, windowLine } from './lib/report.ts';
import { Journal, RunbookError, RunbookExit, RunbookUsageError, runbook } from './lib/runbook.ts';

const USAGE = `
Usage: node --import tsx runbooks/production-rehearsal.ts --task <id> [--param key=value]… [options]

Rehearses a run on staging before production: a dry run on production, the
same run applied on staging, the counts compared, then the production run,
only inside a maintenance window and with --expect set from the dry run.

  --production-uri <uri>      production (default: $PRODUCTION_MONGODB_URI; one is required)
  --staging-uri <uri>         staging (default: $STAGING_MONGODB_URI; one is required)
  --task <id>                 the task to run (see presence tasks), e.g. presence-stale
  --param <key=value>         a task parameter (repeatable), e.g. minutes=60
  --max-drift <n|n%>          refuse when staging's count differs from production's by more
                              (default: the difference is only reported)${YES_HELP}
  --window <spec>             production's maintenance window, e.g. "02:00-05:00 Europe/Paris"
                              (repeatable; default: $PRESENCE_MAINTENANCE_WINDOWS; one is required)
  --outside-window <reason>   run on production outside the windows anyway; the reason is audited
  --tolerance <n|n%>          how far production's real plan may be from its dry run (default 0)
  --batch-size <n>, --rate <docs/s>   pace of the writes, on both (see presence run --help)

Staging is rehearsed as staging (--env staging), at any time: the windows are production's.

Exit codes: 0 done · 1 a step failed (the staging run too) · 2 bad usage · 3 database unreachable
            4 refused (outside the window, no confirmation, counts differ, count changed since the dry run)`;

const { env: _fixed, ...options } = writeOptions;

await runbook('production-rehearsal', async () => {
  const values = parseRunbookArgs(
    process.argv.slice(2),
    {
      'production-uri': { type: 'string' },
      'staging-uri': { type: 'string' },
      task: { type: 'string' },
      param: { type: 'string', multiple: true },
      'max-drift': { type: 'string' },
      ...options,
    },
    USAGE,
  );
  if (!values) return;
  const production = targetUri(values['production-uri'], '--production-uri', 'PRODUCTION_MONGODB_URI');
  const staging = targetUri(values['staging-uri'], '--staging-uri', 'STAGING_MONGODB_URI');
  if (production === staging) throw new RunbookUsageError('--production-uri and --staging-uri name the same target');
  const task = ['run', required(values.task, '--task'), ...(values.param ?? []).flatMap((param) => ['--param', param])];
  const maxDrift = values['max-drift'] === undefined ? undefined : driftLimit(values['max-drift']);
  const windows = values.window ?? [];
  if (windows.length === 0 && !process.env.PRESENCE_MAINTENANCE_WINDOWS?.trim()) {
    throw new RunbookUsageError('production runs only inside a maintenance window: pass --window "<spec>" or set PRESENCE_MAINTENANCE_WINDOWS');
  }
  const { window: _production, 'outside-window': _overrideIsProductions, ...pace } = values;
  const onProduction = [...task, '--uri', production, '--env', 'production', ...writeArgs(values)];
  const onStaging = [...task, '--uri', staging, '--env', 'staging', ...writeArgs(pace)];
  const confirmed = confirmedWriteArgs(values);
  const stagingEnv = { ...process.env, PRESENCE_MAINTENANCE_WINDOWS: undefined };
  stopOnSignals();
  const journal = new Journal();

  const dryRun = await presenceStep<TaskRunRecord>('production dry run', [...onProduction, '--dry-run']);
  const planned = outcomeOf(dryRun.plan)?.count ?? 0;
  journal.ok('production dry run', `${planned} document(s) would change in ${dryRun.target.database} · run ${dryRun._id}`);
  journal.note(windowLine(dryRun, values['outside-window']));
  assertInsideWindow(dryRun, values['outside-window'], 'window');

  const rehearsal = await presenceStep<TaskRunRecord>('staging run', [...onStaging, '--yes'], stagingEnv);
  const rehearsed = outcomeOf(rehearsal.plan)?.count ?? 0;
  journal.ok('staging run', `${resultLine(rehearsal)} in ${rehearsal.target.database} · run ${rehearsal._id}`);
  const failed = outcomeOf(rehearsal.result)?.failed ?? 0;
  if (failed > 0) throw new RunbookError(`the staging run failed ${failed} write(s): production not touched`, RunbookExit.failed, 'staging run');

  const drift = Math.abs(rehearsed - planned);
  const compared = `staging planned ${rehearsed}, production ${planned} (difference ${drift})`;
  if (maxDrift !== undefined && drift > maxDrift(planned)) {
    throw new RunbookError(`${compared}, more than --max-drift ${values['max-drift']}: production not touched`, RunbookExit.refused, 'compare');
  }
  journal.ok('compare', compared);

  if (planned === 0) {
    journal.skip('production run', 'the dry run plans nothing');
    journal.summary(`rehearsed on staging (${rehearsal._id}); nothing to change on production`);
    return;
  }
  const by = await confirmWrite({
    yes: values.yes === true,
    what: `This changes ${planned} document(s) in PRODUCTION (${dryRun.target.database}), rehearsed on staging.`,
    database: dryRun.target.database,
  });
  journal.ok('confirm', `${by}; production must plan ${planned} (--expect)`);
  const run = await presenceStep<TaskRunRecord>('production run', [...onProduction, ...confirmed(planned)]);
  journal.ok('production run', `${resultLine(run)} · ${windowLine(run, values['outside-window'])}`);
  journal.note(undoHint(run));
  journal.summary(
    `production ${run.target.database}: ${outcomeOf(run.result)?.written ?? 0} written, ${undoHint(run)}; ` +
      `rehearsed on staging ${rehearsal.target.database}: ${outcomeOf(rehearsal.result)?.written ?? 0} written, run ${rehearsal._id}`,
  );
});

/** `--max-drift 10` or `--max-drift 5%` (of production's count). */
function driftLimit(raw: string): (planned: number) => number {
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(raw.trim());
  if (!match) throw new RunbookUsageError(`--max-drift must be a count or a percentage (10 or 5%), got "${raw.slice(0, 40)}"`);
  const value = Number(match[1]);
  return match[2] ? (planned) => Math.floor((planned * value) / 100) : () => value;
}
