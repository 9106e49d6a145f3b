#!/usr/bin/env -S node --import tsx
/**
 * Users still shown online after a crash or restart set offline, the old
 * README's recipe with the audit around it: status → cleanup dry run →
 * confirmation → cleanup → health check → status. Stops at the first failure.
 */
import { outcomeOf, type TaskRunRecord } from '../src/engine/run-record.ts';
import { presenceJson, presenceStep, stopOnSignals } from './lib/cli.ts';
import { confirmWrite } from './lib/confirm.ts';
import { confirmedWriteArgs, parseRunbookArgs, targetUri, writeArgs, writeOptions, WRITE_OPTIONS_HELP, YES_HELP } from './lib/options.ts';
import { assertInsideWindow, failedChecks, resultLine, statusLine, undoHint, windowLine, type HealthOutput, type StatusOutput } from './lib/report.ts';
import { Journal, RunbookError, runbook } from './lib/runbook.ts';

const USAGE = `
Usage: node --import tsx runbooks/resolve-ghost-statuses.ts [--uri <uri>] [options]

Sets offline every user still shown online after a crash or restart:
status → cleanup dry run → confirmation → cleanup → health check → status,
stopping at the first failure. In a terminal you confirm by typing the
database name; in a script, --yes passes the dry run's count as --expect.

  --uri <uri>                 the target (default: $MONGODB_URI; one is required)${YES_HELP}${WRITE_OPTIONS_HELP}

Exit codes: 0 done · 1 a step failed · 2 bad usage · 3 database unreachable
            4 refused (no confirmation, outside the window, count changed since the dry run)`;

await runbook('resolve-ghost-statuses', async () => {
  const values = parseRunbookArgs(process.argv.slice(2), { uri: { type: 'string' }, ...writeOptions }, USAGE);
  if (!values) return;
  const target = ['--uri', targetUri(values.uri, '--uri', 'MONGODB_URI')];
  const write = writeArgs(values);
  const confirmed = confirmedWriteArgs(values);
  const cleanup = ['cleanup'];
  stopOnSignals();
  const journal = new Journal();

  journal.ok('status', statusLine(await presenceStep<StatusOutput>('status', ['status', ...target])));

  const dryRun = await presenceStep<TaskRunRecord>('cleanup dry run', [...cleanup, ...target, ...write, '--dry-run']);
  const planned = outcomeOf(dryRun.plan)?.count ?? 0;
  const where = `${dryRun.target.database} (${dryRun.env})`;
  journal.ok('cleanup dry run', `${planned} online user(s) would be set offline in ${where} · run ${dryRun._id}`);

  let cleanupRun: TaskRunRecord | undefined;
  if (planned === 0) {
    journal.skip('cleanup', 'nobody is online: nothing to clean up');
  } else {
    assertInsideWindow(dryRun, values['outside-window'], 'window');
    const by = await confirmWrite({ yes: values.yes === true, what: `This sets ${planned} user(s) offline in ${where}.`, database: dryRun.target.database });
    journal.ok('confirm', `${by}; the cleanup must plan ${planned} (--expect)`);
    cleanupRun = await presenceStep<TaskRunRecord>('cleanup', [...cleanup, ...target, ...write, ...confirmed(planned)]);
    journal.ok('cleanup', `${resultLine(cleanupRun)} · ${windowLine(cleanupRun, values['outside-window'])}`);
    journal.note(undoHint(cleanupRun));
  }

  const health = await presenceJson<HealthOutput>('test', ['test', ...target]);
  if (health.exitCode !== 0) {
    const failed = failedChecks(health.value);
    for (const line of failed) journal.note(line);
    throw new RunbookError(failed.length > 0 ? `health check failed: ${failed.join('; ')}` : health.message, health.exitCode, 'test');
  }
  journal.ok('test', 'every health check passed');

  const after = await presenceStep<StatusOutput>('status', ['status', ...target]);
  journal.ok('status', statusLine(after));

  const cleared = cleanupRun ? `${outcomeOf(cleanupRun.result)?.written ?? 0} ghost status(es) cleared in ${where}, ${undoHint(cleanupRun)}` : `nothing to clear in ${where}`;
  journal.summary(`${cleared}; health check passed; ${after.figures.online} online now`);
});
