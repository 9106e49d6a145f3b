#!/usr/bin/env -S node --import tsx
/**
 * For cron: users inactive for an hour set offline, then the health check.
 * Silent when all is well; otherwise what happened and why on stderr, and a
 * non-zero exit. The health check runs even when the stale run did not, so
 * one mail says everything that is wrong.
 */
import { outcomeOf, type TaskRunRecord } from '../src/engine/run-record.ts';
import { presenceJson, presenceStep, stopOnSignals } from './lib/cli.ts';
import { confirmedWriteArgs, parseRunbookArgs, targetUri, wholeNumber, writeArgs, writeOptions, WRITE_OPTIONS_HELP } from './lib/options.ts';
import { assertInsideWindow, failedChecks, resultLine, undoHint, type HealthOutput } from './lib/report.ts';
import { Journal, RunbookError, RunbookExit, runbook } from './lib/runbook.ts';

const DEFAULT_MINUTES = 60;

const USAGE = `
Usage: node --import tsx runbooks/daily-maintenance.ts [--uri <uri>] [options]

For cron: sets offline the online users inactive for more than --minutes
(presence stale, audited), then runs the health check (presence test).
Silent when all is well; a summary on stderr and a non-zero exit otherwise.
Installing it is the confirmation: the stale run is confirmed with the dry
run's count (--yes --expect <count>); --max bounds what it may change.

  --uri <uri>                 the target (default: $MONGODB_URI; one is required)
  --minutes <n>               inactive for more than this many minutes (default ${DEFAULT_MINUTES})
  --max <n>                   refuse (exit 4) when the dry run plans more users than this
  --verbose                   also report when all is well${WRITE_OPTIONS_HELP}

Exit codes: 0 all well · 1 the health check or the run failed · 2 bad usage
            3 database unreachable · 4 refused (outside the window, more than --max, count changed)`;

const { yes: _notAsked, ...options } = writeOptions;

await runbook('daily-maintenance', async () => {
  const values = parseRunbookArgs(
    process.argv.slice(2),
    { uri: { type: 'string' }, minutes: { type: 'string' }, max: { type: 'string' }, verbose: { type: 'boolean' }, ...options },
    USAGE,
  );
  if (!values) return;
  const target = ['--uri', targetUri(values.uri, '--uri', 'MONGODB_URI')];
  const minutes = wholeNumber(values.minutes, '--minutes') ?? DEFAULT_MINUTES;
  const max = wholeNumber(values.max, '--max');
  const write = writeArgs(values);
  const confirmed = confirmedWriteArgs(values);
  const stale = ['stale', '--minutes', String(minutes)];
  stopOnSignals();
  const journal = new Journal(values.verbose === true);
  const problems: RunbookError[] = [];

  const attempt = async (step: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      if (!(error instanceof RunbookError) || error.exitCode === RunbookExit.usage) throw error;
      journal.fail(error.step ?? step, `${error.message} (exit ${error.exitCode})`);
      problems.push(error);
    }
  };

  await attempt('stale', () => staleUsersOffline(journal, [...stale, ...target, ...write], { minutes, max, confirmed, overrideReason: values['outside-window'] }));
  await attempt('test', async () => {
    const health = await presenceJson<HealthOutput>('test', ['test', ...target]);
    if (health.exitCode === 0) return journal.ok('test', 'every health check passed');
    const failed = failedChecks(health.value);
    throw new RunbookError(failed.length > 0 ? `health check failed: ${failed.join('; ')}` : health.message, health.exitCode, 'test');
  });

  if (problems.length === 0) {
    journal.summary('stale users set offline, health check passed');
    return;
  }
  journal.flushTo(process.stderr);
  throw new RunbookError(`FAILED: ${problems.map((problem) => `${problem.step}: ${problem.message}`).join(' · ')}`, problems[0]!.exitCode);
});

interface StaleRun {
  minutes: number;
  max: number | undefined;
  confirmed: (planned: number) => string[];
  overrideReason: string | undefined;
}

async function staleUsersOffline(journal: Journal, args: string[], { minutes, max, confirmed, overrideReason }: StaleRun) {
  const dryRun = await presenceStep<TaskRunRecord>('stale dry run', [...args, '--dry-run']);
  const planned = outcomeOf(dryRun.plan)?.count ?? 0;
  const where = `${dryRun.target.database} (${dryRun.env})`;
  journal.ok('stale dry run', `${planned} online user(s) inactive > ${minutes} min in ${where} · run ${dryRun._id}`);
  if (planned === 0) return journal.skip('stale', 'nobody to set offline');
  if (max !== undefined && planned > max) {
    throw new RunbookError(
      `the dry run plans ${planned} user(s), more than --max ${max}: nothing written (look at presence status, then run presence stale by hand)`,
      RunbookExit.refused,
      'stale',
    );
  }
  assertInsideWindow(dryRun, overrideReason, 'stale');
  const run = await presenceStep<TaskRunRecord>('stale', [...args, ...confirmed(planned)]);
  journal.ok('stale', `${resultLine(run)} in ${where}`);
  journal.note(undoHint(run));
}
