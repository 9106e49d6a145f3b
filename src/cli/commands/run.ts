import { ensureOwnIndexes } from '../../db/own-indexes.ts';
import { assertWritableDir } from '../../engine/backup.ts';
import { TaskMigrator } from '../../engine/migrator.ts';
import type { RunRecord } from '../../engine/run-record.ts';
import { runTask, type RunnerDeps, type RunSettings } from '../../engine/runner.ts';
import { findTask, loadTasks, parseTaskParams } from '../../engine/task-catalog.ts';
import { migrationName, type LoadedTask, type TaskServices } from '../../engine/task.ts';
import { CONNECTED_SERVICE } from '../../presence/connected.ts';
import { exitCodeOfRecord } from '../exit-codes.ts';
import { withFlagHint } from '../flag-hints.ts';
import { connectedSourceFromOptions } from '../presence-options.ts';
import { outcomeLines } from '../../views/format.ts';
import type { PlanReadPreference } from '../options.ts';
import { paceFor, type PaceFlags } from '../pace.ts';
import { outputMode, printJson, printLines, type OutputMode } from '../render/output.ts';
import { createRunView } from '../render/run-view.ts';
import { safetyPolicy, type SafetyOptions } from '../safety-options.ts';
import type { ShardKeyFlags } from '../shard-key-option.ts';
import { shardKeyTargeting } from '../../db/shard-key.ts';
import { localPaths, newRunId, openSession, operator, targetOf, type Session, type TargetOptions } from '../session.ts';
import { abortOnSignals } from '../signals.ts';
import { toolVersion } from '../version.ts';
import { notifyReceivers, type NotifyOptions } from '../notify-options.ts';
import { settleNotifications } from '../notify/settle.ts';
import { Notifier } from '../notify/notifier.ts';
import { fanOut } from '../../engine/observer.ts';

/** Options of every command that writes: target, pace, safety and notifications. */
export interface RunOptions extends TargetOptions, SafetyOptions, PaceFlags, ShardKeyFlags, NotifyOptions {
  dryRun?: boolean;
  planReadPreference?: PlanReadPreference;
  param?: Record<string, string>;
}

/** `presence run <task>`: any task, through the one run path. */
export async function runCommand(taskId: string, options: RunOptions): Promise<number> {
  const paths = localPaths(options);
  const tasks = await loadTasks(paths.tasksDir);
  const loaded = findTask(tasks, taskId);
  const params = parseTaskParams(loaded, options.param ?? {});
  // A task that needs who is connected (presence-reconcile) finds the source configured in the env or config file.
  const source = await connectedSourceFromOptions({}, process.env);
  try {
    const record = await runLoadedTask(tasks, loaded, params, options, source === undefined ? {} : { [CONNECTED_SERVICE]: source });
    return record === undefined ? 0 : exitCodeOfRecord(record);
  } finally {
    await source?.close();
  }
}

export interface WriteContext {
  session: Session;
  tasks: readonly LoadedTask[];
  deps: RunnerDeps;
  settings: RunSettings;
}

/**
 * What every writing command shares: everything that can be checked is
 * checked before connecting (nothing is written on bad input), then the run is
 * shown step by step, Ctrl-C stops it after the current batch, and the
 * outcome is printed.
 */
export async function withWriteContext(
  tasks: readonly LoadedTask[],
  options: RunOptions,
  perform: (context: WriteContext) => Promise<RunRecord | undefined>,
  services: TaskServices = {},
): Promise<RunRecord | undefined> {
  const paths = localPaths(options);
  const target = targetOf(options);
  const mode = outputMode(options.json);
  const view = createRunView(mode);
  const safety = safetyPolicy(options, target, view.ask);
  const receivers = await notifyReceivers(options);
  if (!options.dryRun) await assertWritableDir(paths.backupDir);
  const interrupt = abortOnSignals();
  try {
    const record = await view.show(async () => {
      const session = await openSession(target, options, view);
      const notifier = receivers.length === 0 ? undefined : new Notifier(receivers);
      let outcome: RunRecord | undefined;
      try {
        const paced = await paceFor(session.connection.db, options, (message) => view.notice(message));
        // Here, after the input is known good and before the run's first audit write: a refused input writes nothing.
        const indexNotices = await ensureOwnIndexes(session.connection.db);
        const now = new Date();
        const planMode = options.planReadPreference ?? 'primary';
        outcome = await perform({
          session,
          tasks,
          deps: {
            db: session.connection.db,
            planDb: session.connection.planDb(planMode),
            store: session.store,
            lock: session.lock,
            observer: notifier === undefined ? view : fanOut(view, notifier),
          },
          settings: {
            runId: newRunId(now),
            operator: operator(),
            toolVersion: toolVersion(),
            target: { uri: target.uri, database: target.database },
            concerns: session.connection.concerns(planMode),
            dryRun: options.dryRun === true,
            backupDir: paths.backupDir,
            batchSize: paced.batchSize,
            now,
            signal: interrupt.signal,
            pace: paced.pace,
            notices: [...paced.notices, ...indexNotices],
            safety,
            ...(options.maxRuntime === undefined ? {} : { maxRuntimeMs: options.maxRuntime }),
            ...(options.atWindowEnd === undefined ? {} : { atWindowEnd: options.atWindowEnd }),
            services,
            targeting: shardKeyTargeting(session.connection.db, options.shardKey),
          },
        });
        return outcome;
      } finally {
        if (notifier !== undefined) await settleNotifications(notifier, session.store, outcome);
        await session.close();
      }
    });
    return record && withFlagHint(record);
  } finally {
    interrupt.dispose();
  }
}

/** Runs a task through umzug; shared by `run` and the presence commands. */
export async function runLoadedTask(
  tasks: readonly LoadedTask[],
  loaded: LoadedTask,
  params: Record<string, unknown>,
  options: RunOptions,
  services: TaskServices = {},
): Promise<RunRecord | undefined> {
  const record = await withWriteContext(
    tasks,
    options,
    ({ session, deps, settings }) => new TaskMigrator(tasks, session.store).up(loaded, () => runTask(deps, loaded, params, settings)),
    services,
  );
  report(record, loaded, outputMode(options.json));
  return record;
}

function report(record: RunRecord | undefined, loaded: LoadedTask, mode: OutputMode): void {
  if (record === undefined) {
    const message = `${migrationName(loaded.task)} is a once task and is already applied: nothing to do`;
    if (mode === 'json') printJson({ status: 'already-applied', migration: migrationName(loaded.task), message });
    else printLines([message]);
    return;
  }
  if (mode === 'json') printJson(record);
  else printLines(outcomeLines(record));
}
