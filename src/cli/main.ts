import { Command, CommanderError, Option } from 'commander';
import { ExitCode } from '../engine/errors.ts';
import { privilegeErrorOf } from '../engine/privileges.ts';
import { exitCodeOfError } from './exit-codes.ts';
import { parseAge, parseSince, parseStatus } from './history-options.ts';
import { addPaceOptions, addTargetOptions, addWriteOptions, collectParam, DEFAULT_STATUS_MAX_TIME_SECONDS, integerIn, parseMaxTime } from './options.ts';
import { addSafetyOptions } from './safety-options.ts';
import { addShardKeyOption } from './shard-key-option.ts';
import { PresenceExamples } from './presence-help.ts';
import { addConnectedOptions, addPresenceOptions, addSampleOptions, graceOption, minutesOption, parseInterval } from './presence-options.ts';
import { StatusFormat } from './status-format.ts';
import { helpOnlyForKnownCommands } from './unknown-command.ts';
import { toolVersion } from './version.ts';

const EXAMPLES = `
Examples:
  presence status                                    who is online, stale, malformed; index health; last runs
  presence stale --minutes=60                        offline after an hour without activity (audited, undoable)
  presence stale --scheduled --interval=15           the same every 15 minutes, until Ctrl-C
  presence reconcile --connected http://app:3000/presence
                                                     ghosts (not connected to Socket.IO) set offline
  presence cleanup --dry-run                         who a cleanup would set offline
  presence test                                      the daily health check (exit 1 on a failed check)
  presence demo                                      the whole tool on a throw-away database
  presence sandbox                                   start a throw-away database (prints its URI)
  presence tasks --uri mongodb://127.0.0.1:27017/app
  presence run normalize-emails --dry-run            plan only, nothing written
  presence run normalize-emails --param collection=members
  presence history --task normalize-emails --since 7d
  presence restore 20261125T210612Z-3f9a1c           put a run's backed-up values back
  presence runs                                      running and paused runs: progress, rate, time left
  presence dashboard                                 the same in a browser, with presence over time (127.0.0.1:8080)
  presence pause 20261125T210612Z-3f9a1c             pause a run from any host (also resume, cancel)

Exit codes: 0 success · 1 a task or check failed · 2 bad usage or input
            3 database unreachable or unauthorised · 4 refused by a safety rule`;

/**
 * Every command's module is imported in its action, so `--help` (or a usage error) loads commander and the option
 * parsers, not mongodb, listr2, umzug or zx behind the commands.
 */
function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('presence')
    .description('Maintenance tasks for MongoDB, run like migrations: plan, backup, apply, verify, audit.')
    .version(toolVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`presence: ${oneLine(text.replace(/^error: /, '').trim())}\n`),
    })
    .addHelpText('after', EXAMPLES)
    .showSuggestionAfterError(true);

  addSampleOptions(
    addConnectedOptions(
      addPresenceOptions(
        addTargetOptions(
          program
            .command('status')
            .description(
              'users online, offline, stale and malformed; ghosts and missing against who is connected; index health; the last runs (records a presence sample)',
            ),
        ),
      ),
    ),
  )
    .addOption(minutesOption('stale threshold in minutes (default: 30; $PRESENCE_STALE_MINUTES)'))
    .addOption(graceOption())
    .addOption(
      new Option('--max-time <seconds>', `time for the database queries; a figure not measured in it is unknown (default: ${DEFAULT_STATUS_MAX_TIME_SECONDS})`).argParser(
        parseMaxTime,
      ),
    )
    .addOption(new Option('--format <format>', 'output format').choices(Object.values(StatusFormat)).default(StatusFormat.text))
    .addHelpText('after', PresenceExamples.status)
    .action(async (options) => setExitCode(await (await import('./commands/status.ts')).statusCommand(options)));

  addConnectedOptions(
    addPresenceOptions(
      addSafetyOptions(
        addShardKeyOption(addWriteOptions(
          addTargetOptions(
            program
              .command('reconcile')
              .description('set offline the ghosts: online in the database, not connected to Socket.IO, once or --scheduled'),
          ),
        )),
      ),
    ),
  )
    .addOption(graceOption())
    .option('--fix-missing', 'also set online the connected users shown offline')
    .option('--scheduled', 'keep running: an audited run every --interval minutes, until Ctrl-C or SIGTERM')
    .addOption(new Option('--interval <minutes>', 'minutes between scheduled runs, decimals allowed (default: 15)').argParser(parseInterval))
    .addHelpText('after', PresenceExamples.reconcile)
    .action(async (options) => setExitCode(await (await import('./commands/reconcile.ts')).reconcileCommand(options)));

  addPresenceOptions(
    addSafetyOptions(
      addShardKeyOption(addWriteOptions(
        addTargetOptions(program.command('cleanup').description('set every online user offline (ghost statuses after a restart)')),
      )),
    ),
  )
    .addHelpText('after', PresenceExamples.cleanup)
    .action(async (options) => setExitCode(await (await import('./commands/cleanup.ts')).cleanupCommand(options)));

  addPresenceOptions(
    addSafetyOptions(
      addShardKeyOption(addWriteOptions(
        addTargetOptions(
          program.command('stale').description('set offline the online users inactive longer than --minutes, once or --scheduled'),
        ),
      )),
    ),
  )
    .addOption(minutesOption('inactive for more than this many minutes (default: 30; $PRESENCE_STALE_MINUTES)'))
    .option('--scheduled', 'keep running: an audited run every --interval minutes, until Ctrl-C or SIGTERM')
    .addOption(new Option('--interval <minutes>', 'minutes between scheduled runs, decimals allowed (default: 15)').argParser(parseInterval))
    .addHelpText('after', PresenceExamples.stale)
    .action(async (options) => setExitCode(await (await import('./commands/stale.ts')).staleCommand(options)));

  addPresenceOptions(
    addTargetOptions(
      program
        .command('test')
        .description('health check: connection, schema sample, presence operations on a scratch document, indexes, stale plan'),
    ),
  )
    .addOption(minutesOption('stale threshold of the update simulation (default: 30; $PRESENCE_STALE_MINUTES)'))
    .addHelpText('after', PresenceExamples.test)
    .action(async (options) => setExitCode(await (await import('./commands/test.ts')).testCommand(options)));

  program
    .command('demo')
    .description('start an embedded database, seed users, walk through status, stale, reconcile, cleanup and test, then offer the dashboard')
    .addOption(new Option('--users <n>', 'users to seed').argParser(integerIn(100, 20_000, '--users')).default(2000))
    .option('--dashboard', 'end by serving the dashboard on the demo database until Ctrl-C, even without a terminal')
    .addHelpText('after', PresenceExamples.demo)
    .action(async (options) => setExitCode(await (await import('./commands/demo.ts')).demoCommand(options)));

  addTargetOptions(program.command('tasks').description('list tasks with their version, mode and state (pending, applied)'))
    .option('--tasks-dir <dir>', 'where task modules live (default: the bundled tasks/)')
    .action(async (options) => setExitCode(await (await import('./commands/tasks.ts')).tasksCommand(options)));

  addSafetyOptions(addShardKeyOption(addWriteOptions(
    addTargetOptions(
      program
        .command('run')
        .description('run a task: plan, backup, apply, verify, audit')
        .argument('<task>', 'task id (see `presence tasks`)')
        .option('--param <key=value>', 'a task parameter (repeatable)', collectParam)
        .option('--tasks-dir <dir>', 'where task modules live (default: the bundled tasks/)'),
    ),
  ))).action(async (task: string, options) => setExitCode(await (await import('./commands/run.ts')).runCommand(task, options)));

  addSafetyOptions(addWriteOptions(
    addTargetOptions(
      program
        .command('restore')
        .description("put a run's backed-up values back (documents changed since are reported, not overwritten)")
        .argument('<runId>', 'the run to undo (see `presence history`)')
        .option('--force', 'also overwrite documents changed since the run')
        .option('--tasks-dir <dir>', 'where task modules live (default: the bundled tasks/)'),
    ),
  )).action(async (runId: string, options) => setExitCode(await (await import('./commands/restore.ts')).restoreCommand(runId, options)));

  addSafetyOptions(
    addPaceOptions(
      addTargetOptions(
        program
          .command('resume')
          .description('ask a paused run to write again; a run whose runner died or was interrupted is continued here from its backup')
          .argument('<runId>', 'the run (see `presence runs` or `presence history`)')
          .option('--tasks-dir <dir>', 'where task modules live (default: the bundled tasks/)'),
      ),
    ),
  ).action(async (runId: string, options) => setExitCode(await (await import('./commands/resume.ts')).resumeCommand(runId, options)));

  for (const [action, description] of [
    ['pause', 'ask a running run to pause after its current batch (it keeps its lock and writes nothing until resumed)'],
    ['cancel', 'ask a running or paused run to stop after its current batch (audited as cancelled, restorable)'],
  ] as const) {
    addTargetOptions(program.command(action).description(description).argument('<runId>', 'the run (see `presence runs`)')).action(
      async (runId: string, options) => setExitCode(await (await import('./commands/steer.ts')).steerCommand(action, runId, options)),
    );
  }

  addSampleOptions(addConnectedOptions(
    addPresenceOptions(
      addTargetOptions(
        program
          .command('dashboard')
          .description('a read-only web dashboard: presence over time, ghosts, every run with its progress, the tasks'),
        { json: false },
      ),
    ),
  ))
    .addOption(new Option('--port <port>', 'port to listen on; 0 picks a free one').argParser(integerIn(0, 65_535, '--port')).default(8080))
    .addOption(new Option('--host <address>', 'address to listen on; any other than loopback needs a token').default('127.0.0.1'))
    .option('--token <token>', 'every request must present it (Bearer, or as the password of the login prompt); $PRESENCE_DASHBOARD_TOKEN keeps it out of ps')
    .addOption(new Option('--refresh <seconds>', 'seconds between the pages\' own refreshes (default: 10)').argParser(integerIn(1, 3600, '--refresh')))
    .addOption(minutesOption('stale threshold in minutes (default: 30; $PRESENCE_STALE_MINUTES)'))
    .addOption(graceOption())
    .addOption(
      new Option('--max-time <seconds>', `time for each refresh's database queries (default: ${DEFAULT_STATUS_MAX_TIME_SECONDS})`).argParser(parseMaxTime),
    )
    .option('--tasks-dir <dir>', 'where task modules live (default: the bundled tasks/)')
    .addHelpText('after', PresenceExamples.dashboard)
    .action(async (options) => setExitCode(await (await import('./commands/dashboard.ts')).dashboardCommand(options)));

  addTargetOptions(program.command('runs').description('list running and paused runs with their progress, from any host')).action(
    async (options) => setExitCode(await (await import('./commands/runs.ts')).runsCommand(options)),
  );

  addTargetOptions(program.command('history').description('list recorded runs, newest first'))
    .option('--task <id>', 'only runs of this task')
    .option('--status <status>', 'only runs with this status', parseStatus)
    .option('--env <env>', 'only runs against targets of this environment')
    .option('--since <when>', 'only runs started since a date (2026-11-01) or an age (30m, 12h, 7d)', parseSince)
    .addOption(new Option('--limit <n>', 'at most this many runs').argParser(integerIn(1, 10_000, '--limit')).default(50))
    .action(async (options) => setExitCode(await (await import('./commands/history.ts')).historyCommand(options)));

  const backups = program.command('backups').description('list or prune the backups kept on this host');
  backups
    .command('list')
    .description('list backups, newest first')
    .option('--json', 'print a machine-readable result on stdout')
    .option('--state-dir <dir>', 'where backups and the local audit file live')
    .option('--backup-dir <dir>', 'backup directory (default: <state-dir>/backups)')
    .action(async (options) => setExitCode(await (await import('./commands/backups.ts')).listBackupsCommand(options)));
  backups
    .command('prune')
    .description("delete backups older than an age, never the latest backup of a task")
    .requiredOption('--older-than <age>', 'an age: 30d, 12h, 90m', parseAge)
    .option('--dry-run', 'only say what would be deleted')
    .option('--json', 'print a machine-readable result on stdout')
    .option('--state-dir <dir>', 'where backups and the local audit file live')
    .option('--backup-dir <dir>', 'backup directory (default: <state-dir>/backups)')
    .action(async (options) => setExitCode(await (await import('./commands/backups.ts')).pruneBackupsCommand(options)));

  program
    .command('sandbox')
    .description('start an embedded FerretDB on 127.0.0.1 (prints its URI), until Ctrl-C')
    .option('--data <dir>', 'keep the data in this directory (default: temporary)')
    .action(async (options) => setExitCode(await (await import('./commands/sandbox.ts')).sandboxCommand(options)));

  return program;
}

const MAX_ERROR_LENGTH = 1000;

/**
 * An error as one line, whatever it quotes back (a value with a newline, a
 * terminal escape, 100 kB of it): control characters shown escaped, the
 * length bounded, commander's "did you mean" kept on the same line.
 */
function oneLine(message: string): string {
  const flat = message
    .replace(/\n(\(Did you mean)/g, ' $1')
    .replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return flat.length > MAX_ERROR_LENGTH ? `${flat.slice(0, MAX_ERROR_LENGTH)}…` : flat;
}

/** Runs the CLI and returns the exit code; prints one line on any error, never a stack. */
export async function main(argv: string[]): Promise<number> {
  // `presence status | head`: a reader that goes away is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  let exitCode: number = ExitCode.success;
  const program = buildProgram((code) => (exitCode = code));
  try {
    await program.parseAsync(helpOnlyForKnownCommands(program, argv), { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? ExitCode.success : ExitCode.usage;
    }
    // The server's own words for a refused privilege quote the whole command: say what was refused instead.
    const shown = privilegeErrorOf(error) ?? error;
    process.stderr.write(`presence: ${oneLine(shown instanceof Error ? shown.message : String(shown))}\n`);
    return exitCodeOfError(shown);
  }
}
