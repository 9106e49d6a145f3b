#!/usr/bin/env -S node --import tsx
/**
 * Users still shown online after a crash or restart set offline, the old
 * README's recipe with the audit around it: status → dry run → confirmation →
 * the write → health check → status. Stops at the first failure. With a
 * connected-set source, the write is `reconcile` (only the ghosts: online, not
 * connected); without one, `cleanup` (everyone online), and it says which.
 */
import { MaintenanceError } from '../src/engine/errors.ts';
import { outcomeOf, type TaskRunRecord } from '../src/engine/run-record.ts';
import { loadConnectedSettings } from '../src/presence/config.ts';
import { hasConnectedSource } from '../src/presence/connected-settings.ts';
import { presenceJson, presenceStep, stopOnSignals } from './lib/cli.ts';
import { confirmWrite } from './lib/confirm.ts';
import { confirmedWriteArgs, parseRunbookArgs, targetUri, writeArgs, writeOptions, WRITE_OPTIONS_HELP, YES_HELP } from './lib/options.ts';
import { assertInsideWindow, failedChecks, resultLine, statusLine, undoHint, windowLine, type HealthOutput, type StatusOutput } from './lib/report.ts';
import { Journal, RunbookError, RunbookUsageError, runbook } from './lib/runbook.ts';

const USAGE = `
Usage: node --import tsx runbooks/resolve-ghost-statuses.ts [--uri <uri>] [options]

Sets offline the users still shown online after a crash or restart:
status → dry run → confirmation → the write → health check → status,
stopping at the first failure. With a connected-set source (below, or
$PRESENCE_CONNECTED_URL / $PRESENCE_CONNECTED_REDIS / the config file) the
write is \`presence reconcile\`: only the ghosts, who are not connected. Without
one it is \`presence cleanup\`: everyone shown online. In a terminal you confirm
by typing the database name; in a script, --yes passes the dry run's count as --expect.

  --uri <uri>                 the target (default: $MONGODB_URI; one is required)
  --connected <url>           the app's presence endpoint (token in $PRESENCE_CONNECTED_TOKEN)
  --connected-redis <uri>     or the deployment's Socket.IO Redis adapter${YES_HELP}${WRITE_OPTIONS_HELP}

Exit codes: 0 done · 1 a step failed · 2 bad usage · 3 database unreachable
            4 refused (no confirmation, outside the window, count changed since the dry run)`;

await runbook('resolve-ghost-statuses', async () => {
  const values = parseRunbookArgs(
    process.argv.slice(2),
    { uri: { type: 'string' }, connected: { type: 'string' }, 'connected-redis': { type: 'string' }, ...writeOptions },
    USAGE,
  );
  if (!values) return;
  const target = ['--uri', targetUri(values.uri, '--uri', 'MONGODB_URI')];
  const write = writeArgs(values);
  const confirmed = confirmedWriteArgs(values);
  const sourceArgs = [
    ...(values.connected === undefined ? [] : ['--connected', values.connected]),
    ...(values['connected-redis'] === undefined ? [] : ['--connected-redis', values['connected-redis']]),
  ];
  const fromTheTruth = await connectedSourceConfigured(values.connected, values['connected-redis']);
  const step = fromTheTruth ? 'reconcile' : 'cleanup';
  const fix = fromTheTruth ? ['reconcile', ...sourceArgs] : ['cleanup'];
  stopOnSignals();
  const journal = new Journal();

  const before = await presenceStep<StatusOutput>('status', ['status', ...target, ...sourceArgs]);
  journal.ok('status', statusLine(before));
  journal.note(
    fromTheTruth
      ? 'a connected-set source is configured: reconcile sets offline only the ghosts (online, not connected)'
      : 'no connected-set source configured: cleanup sets offline everyone shown online (configure one to spare connected users)',
  );

  const dryRun = await presenceStep<TaskRunRecord>(`${step} dry run`, [...fix, ...target, ...write, '--dry-run']);
  const planned = outcomeOf(dryRun.plan)?.count ?? 0;
  const where = `${dryRun.target.database} (${dryRun.env})`;
  const who = fromTheTruth ? 'ghost(s)' : 'online user(s)';
  journal.ok(`${step} dry run`, `${planned} ${who} would be set offline in ${where} · run ${dryRun._id}`);

  let cleanupRun: TaskRunRecord | undefined;
  if (planned === 0) {
    journal.skip(step, fromTheTruth ? 'no ghosts: nothing to reconcile' : 'nobody is online: nothing to clean up');
  } else {
    assertInsideWindow(dryRun, values['outside-window'], 'window');
    const by = await confirmWrite({ yes: values.yes === true, what: `This sets ${planned} user(s) offline in ${where}.`, database: dryRun.target.database });
    journal.ok('confirm', `${by}; the ${step} must plan ${planned} (--expect)`);
    cleanupRun = await presenceStep<TaskRunRecord>(step, [...fix, ...target, ...write, ...confirmed(planned)]);
    journal.ok(step, `${resultLine(cleanupRun)} · ${windowLine(cleanupRun, values['outside-window'])}`);
    journal.note(undoHint(cleanupRun));
  }

  const health = await presenceJson<HealthOutput>('test', ['test', ...target]);
  if (health.exitCode !== 0) {
    const failed = failedChecks(health.value);
    for (const line of failed) journal.note(line);
    throw new RunbookError(failed.length > 0 ? `health check failed: ${failed.join('; ')}` : health.message, health.exitCode, 'test');
  }
  journal.ok('test', 'every health check passed');

  const after = await presenceStep<StatusOutput>('status', ['status', ...target, ...sourceArgs]);
  journal.ok('status', statusLine(after));

  const cleared = cleanupRun ? `${outcomeOf(cleanupRun.result)?.written ?? 0} ghost status(es) cleared in ${where}, ${undoHint(cleanupRun)}` : `nothing to clear in ${where}`;
  journal.summary(`${cleared}; health check passed; ${after.figures.online} online now`);
});

/** Whether the CLI will find a connected-set source: these flags, else its environment and config file. */
async function connectedSourceConfigured(url: string | undefined, redis: string | undefined): Promise<boolean> {
  try {
    return hasConnectedSource(await loadConnectedSettings({ flags: { url, redis }, env: process.env }));
  } catch (error) {
    if (error instanceof MaintenanceError) throw new RunbookUsageError(error.message);
    throw error;
  }
}
