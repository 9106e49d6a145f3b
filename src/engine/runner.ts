import type { Db } from 'mongodb';
import { assertRoomForBackup, backupPaths, openBackup, openRunBackups, readBackupBatches, writeBackup, type BackupManifest } from './backup.ts';
import { afterImage } from './document-state.ts';
import {
  BackupError,
  CancelledError,
  errorMessage,
  ExitCode,
  exitCodeOf,
  InterruptedError,
  isConnectionLoss,
  LockLostError,
  MaintenanceError,
  RefusedError,
  UsageError,
} from './errors.ts';
import { holdLock, type HeldLock } from './lock-guard.ts';
import { privilegeErrorOf } from './privileges.ts';
import type { Pace, RunLock, RunObserver, RunStore, TargetingResolver } from './ports.ts';
import {
  LockTakeoverReason,
  NO_TARGETING,
  notReached,
  outcomeOf,
  reached,
  RunKind,
  RunLimit,
  RunStatus,
  type LimitStop,
  RunStep,
  type ApplyCounts,
  type BackupSummary,
  type PlanSummary,
  type RestoreCounts,
  type RestoreRecord,
  type StepResult,
  type RunConcerns,
  type RunFailure,
  type RunRecord,
  type TargetInfo,
  type TaskRunRecord,
  type VerifyCounts,
} from './run-record.ts';
import { migrationName, PlanKind, TaskMode, type AnyPlan, type LoadedTask, type TaskContext, type TaskLogger, type TaskServices } from './task.ts';
import { assertWindow, changeWords, confirmRun, windowState, type SafetyPolicy } from './safety.ts';
import type { TargetState } from './verify.ts';
import { preImage } from './restore.ts';
import { SAMPLE_SIZE, sampleText, type PlanReport, type PlanSample } from './plan.ts';
import type { WriteBatchesOptions } from './apply.ts';
import { ProgressMeter } from './progress.ts';
import { Steering } from './steering.ts';
import { limitReached, WindowEnd } from './run-limits.ts';
import { backupWorkOf, planKindOf, workOf, type PlanTargeting, type Work } from './work.ts';
import { archiveName } from './archive.ts';
import type { VerifyGoal } from './purge.ts';
import { checkedPlans } from './plan-check.ts';
import { offsetsOf, runPlanOf, stepOf, sumOf } from './plan-steps.ts';

export interface RunnerDeps {
  /** Reads the primary and writes with majority: everything that decides, makes or checks a write. */
  db: Db;
  /** Where the plan's count and sample read (a secondary only when the operator asks); `db` when absent. */
  planDb?: Db;
  store: RunStore;
  lock: RunLock;
  observer: RunObserver;
}

export interface RunSettings {
  runId: string;
  operator: string;
  target: TargetInfo;
  /** What `db` and `planDb` use, recorded with the run. */
  concerns?: RunConcerns;
  dryRun: boolean;
  backupDir: string;
  batchSize: number;
  /** The run's clock: fixed at start, handed to the task. */
  now: Date;
  /** Aborted by SIGINT/SIGTERM: the run stops after the current batch. */
  signal: AbortSignal;
  pace?: Pace;
  /** Said before the run starts (e.g. the batch size capped for the engine): shown and kept in the audit. */
  notices?: readonly string[];
  /** Environment, maintenance windows and confirmation rules for this target. */
  safety: SafetyPolicy;
  /** Stops the run (interrupted, resumable) after this long since it started. */
  maxRuntimeMs?: number;
  /** What a run confirmed inside a window does at its end; `pause` when absent. */
  atWindowEnd?: WindowEnd;
  /** What the task may need beyond the database, e.g. who is connected (never audited). */
  services?: TaskServices;
  /** The fields every write's filter carries beyond `_id` (a shard key); none when not given. */
  targeting?: TargetingResolver;
  /** The release of the tool that runs it, recorded with the run; given by the caller, never read here. */
  toolVersion?: string;
}

/** The error of a step, remembered with the step it came from. */
class StepError extends Error {
  constructor(
    readonly step: RunStep,
    readonly error: unknown,
  ) {
    super(errorMessage(error));
  }
}

/**
 * A run in progress: the record it fills as it goes, the steps' timings, and
 * the lock it holds. Every run, of any task, takes the same path.
 */
class Run<R extends RunRecord> {
  lock?: HeldLock;
  /** Steps started or skipped: the others end the run not reached. */
  private readonly startedOrSkipped = new Set<RunStep>();
  /** Aborted by a cancel request, read between batches. */
  private readonly cancelled = new AbortController();
  /** Aborted when the run reaches a limit (its window's end, its maximum runtime), checked before each batch. */
  private readonly limited = new AbortController();
  /** The operator's signals and a cancel request: either stops the run after its current batch. */
  private readonly ownSignal: AbortSignal;
  private steering?: Steering;

  constructor(
    readonly deps: RunnerDeps,
    readonly record: R,
    readonly settings: RunSettings,
  ) {
    this.ownSignal = AbortSignal.any([settings.signal, this.cancelled.signal, this.limited.signal]);
    for (const message of settings.notices ?? []) this.notice(message);
    // Every run is built right after its record was saved as running.
    deps.observer.statusChanged?.(record);
  }

  get signal(): AbortSignal {
    return this.lock?.signal ?? this.ownSignal;
  }

  /** The writing step's progress and steering, `planned` entries long. */
  steered(step: RunStep, planned: number): Steering {
    const run = this;
    this.steering = new Steering(
      { store: this.deps.store, observer: this.deps.observer, pace: this.settings.pace },
      {
        id: this.record._id,
        get status() {
          return run.record.status;
        },
        set status(status) {
          run.statusChanged(status);
        },
        notice: (message) => this.notice(message),
        cancel: (request) => this.cancelled.abort(new CancelledError(request.by, request.at)),
      },
      new ProgressMeter(step, planned),
    );
    return this.steering;
  }

  async step<T>(step: RunStep, work: () => Promise<T>): Promise<T> {
    this.startedOrSkipped.add(step);
    this.deps.observer.stepStarted(step);
    const started = performance.now();
    try {
      const result = await work();
      this.record.stepMs[step] = Math.round(performance.now() - started);
      this.deps.observer.stepFinished(step, this.record);
      return result;
    } catch (thrown) {
      this.record.stepMs[step] = Math.round(performance.now() - started);
      // A refused privilege is the database's answer, whatever the step wrapped it in: said as such, exit 3.
      const error = privilegeErrorOf(thrown) ?? thrown;
      this.deps.observer.stepFailed(step, errorMessage(error));
      throw new StepError(step, error);
    }
  }

  skip(steps: RunStep[], reason: string): void {
    for (const step of steps) {
      this.startedOrSkipped.add(step);
      this.deps.observer.stepSkipped(step, reason);
    }
  }

  /** The hooks around each write batch: the limits, steering (pause, cancel), then the pace; all stop early with the run. */
  paced(steering: Steering): Pick<WriteBatchesOptions, 'pace' | 'afterBatch'> {
    const { pace } = this.settings;
    return {
      pace: async (size) => {
        await this.checkLimits(steering);
        await steering.beforeBatch(this.signal);
        // A pause or a wait for the pace may outlast a limit: checked again just before the batch is written.
        await this.checkLimits(steering);
        if (!this.signal.aborted) await pace?.beforeBatch(size, this.signal);
      },
      afterBatch: (size, ms, error) => pace?.afterBatch(size, ms, error),
    };
  }

  statusChanged(status: RunStatus): void {
    this.record.status = status;
    this.deps.observer.statusChanged?.(this.record);
  }

  private limitNow(): LimitStop | undefined {
    const { record, settings } = this;
    return limitReached(
      { startedAt: record.startedAt, maxRuntimeMs: settings.maxRuntimeMs, windows: settings.safety.windows, window: record.window },
      new Date(),
    );
  }

  /** Every batch, not once a second like steering: nothing is written past a window's end but the batch under way. */
  private async checkLimits(steering: Steering): Promise<void> {
    if (this.signal.aborted) return;
    const limit = this.limitNow();
    if (limit === undefined) return;
    if (limit.limit === RunLimit.windowEnded && (this.settings.atWindowEnd ?? WindowEnd.pause) === WindowEnd.pause) {
      if (await this.pauseForWindow(steering)) return;
    }
    this.stop(limit);
  }

  private stop(limit: LimitStop): void {
    this.record.stoppedBy = limit;
    this.notice(limit.message);
    this.limited.abort(new InterruptedError(limit.message));
  }

  /**
   * Paused, its lock kept alive, until a window opens again: then it goes on by itself. Its maximum runtime, a cancel
   * or a signal end the wait (interrupted or cancelled, resumable). False when the record could not be paused (the
   * database away): the run then stops, as nothing may be written after the window's end.
   */
  private async pauseForWindow(steering: Steering): Promise<boolean> {
    const { record, deps } = this;
    const pause = { pausedAt: new Date() };
    const windowPauses = [...(record.windowPauses ?? []), pause];
    if (!(await deps.store.transition(record._id, RunStatus.running, RunStatus.paused, { windowPauses }).catch(() => false))) return false;
    record.windowPauses = windowPauses;
    this.statusChanged(RunStatus.paused);
    this.notice(`the maintenance window (${record.window?.windows.join(', ')}) ended: paused, writing nothing until a window opens (lock kept)`);
    let limit: LimitStop | undefined;
    await steering.holdWhile(() => {
      limit = this.limitNow();
      return limit?.limit === RunLimit.windowEnded;
    }, this.signal);
    if (this.signal.aborted) return true;
    if (limit !== undefined) {
      this.stop(limit);
      return true;
    }
    const resumed = { ...pause, resumedAt: new Date() };
    const done = [...windowPauses.slice(0, -1), resumed];
    if (!(await deps.store.transition(record._id, RunStatus.paused, RunStatus.running, { windowPauses: done }).catch(() => false))) {
      this.stop({ limit: RunLimit.windowEnded, at: pause.pausedAt, message: 'a maintenance window opened, but the run could not be set running again: stopped; resume it' });
      return true;
    }
    record.windowPauses = done;
    this.statusChanged(RunStatus.running);
    this.notice('a maintenance window opened: writing again');
    return true;
  }

  notice(message: string): void {
    this.record.notices.push(message);
    this.deps.observer.notice(message);
  }

  progress(step: RunStep, done: number, total: number): void {
    this.deps.observer.stepProgress(step, done, total);
  }

  /** Lock, then report what a crashed runner left behind. */
  async acquireLock(): Promise<void> {
    await this.step('lock', async () => {
      this.lock = await holdLock(this.deps.lock, { runId: this.record._id, owner: this.record.operator }, this.ownSignal);
      this.record.lockHeld = true;
      const takeover = this.lock.takeover;
      if (takeover) {
        this.record.lockTakeover = takeover;
        this.notice(
          takeover.reason === LockTakeoverReason.holderGone
            ? `took over the lock held by run ${takeover.previousRunId} (${takeover.previousOwner}) at once: ${takeover.detail ?? 'its holder is gone'}`
            : `took over an expired lock held by run ${takeover.previousRunId} (${takeover.previousOwner}), expired ${takeover.expiredAt.toISOString()}`,
        );
      }
      const startedBefore = new Date(Date.now() - this.deps.lock.ttlMs);
      const stale = await this.deps.store.closeStaleRuns(this.record._id, startedBefore);
      if (stale.interrupted.length > 0) {
        this.record.staleRunsClosed = stale.interrupted;
        this.notice(`run(s) ${stale.interrupted.join(', ')} stopped without finishing (runner died); marked interrupted`);
      }
      if (stale.reconciled.length > 0) {
        this.record.staleRunsReconciled = stale.reconciled;
        this.notice(`run(s) ${stale.reconciled.join(', ')} had ended but their database missed it; completed from the local audit`);
      }
      await this.deps.store.update(this.record._id, {
        lockHeld: true,
        lockTakeover: this.record.lockTakeover,
        staleRunsClosed: this.record.staleRunsClosed,
        staleRunsReconciled: this.record.staleRunsReconciled,
      });
    });
  }

  /** Ends the run: status from what happened, audit written, lock released. */
  async finish(failure: unknown): Promise<R> {
    const { record } = this;
    if (failure !== undefined) {
      const step = failure instanceof StepError ? failure.step : 'audit';
      const cause = failure instanceof StepError ? failure.error : failure;
      record.status = statusOf(cause, this.signal);
      record.error = failureOf(step, cause, this.signal);
    } else if (record.status === RunStatus.running) {
      record.status = RunStatus.succeeded;
    }
    if (this.steering) record.progress = this.steering.final();
    const paceNotices = this.settings.pace?.notices() ?? [];
    if (paceNotices.length > 0) record.backoff = paceNotices;
    await this.lock?.release();
    const endedAt = new Date();
    record.endedAt = endedAt;
    record.durationMs = endedAt.getTime() - record.startedAt.getTime();
    for (const step of Object.values(RunStep)) {
      if (step !== RunStep.audit && !this.startedOrSkipped.has(step)) this.deps.observer.stepNotReached(step);
    }
    await this.step('audit', () => this.deps.store.complete(record)).catch((error: unknown) => {
      record.notices.push(`audit record not saved in the database (${errorMessage(error)}); the local audit file has it`);
    });
    this.deps.observer.statusChanged?.(record);
    return record;
  }
}

function statusOf(error: unknown, signal: AbortSignal): RunStatus {
  if (error instanceof LockLostError) return RunStatus.failed;
  if (error instanceof CancelledError) return RunStatus.cancelled;
  if (error instanceof InterruptedError || (signal.aborted && !(signal.reason instanceof LockLostError))) {
    return RunStatus.interrupted;
  }
  if (error instanceof MaintenanceError && error.exitCode === ExitCode.refused) return RunStatus.refused;
  return RunStatus.failed;
}

function messageOf(error: unknown, signal: AbortSignal): string {
  if (signal.aborted && signal.reason instanceof Error && !(error instanceof MaintenanceError)) return signal.reason.message;
  return errorMessage(error);
}

function failureOf(step: RunStep, error: unknown, signal: AbortSignal): RunFailure {
  const failure = { step, message: messageOf(error, signal), code: exitCodeOf(error) };
  return error instanceof RefusedError ? { ...failure, rule: error.rule } : failure;
}

/** What a record holds as it starts, of either kind: every step's result not reached yet. */
function startingRecord(task: RunRecord['task'], params: Record<string, unknown>, settings: RunSettings) {
  return {
    _id: settings.runId,
    migration: migrationName(task),
    task,
    params,
    operator: settings.operator,
    ...(settings.toolVersion === undefined ? {} : { toolVersion: settings.toolVersion }),
    target: settings.target,
    ...(settings.concerns === undefined ? {} : { concerns: settings.concerns }),
    dryRun: settings.dryRun,
    ...(settings.maxRuntimeMs === undefined ? {} : { maxRuntimeMs: settings.maxRuntimeMs }),
    env: settings.safety.env,
    window: null,
    confirmation: null,
    status: RunStatus.running,
    startedAt: settings.now,
    endedAt: null,
    durationMs: null,
    stepMs: {},
    lockHeld: false,
    plan: notReached,
    verify: notReached,
    notices: [],
  };
}

/** A write that failed because the database went away is the database's failure (exit 3); any other, the task's. */
function writeFailed(message: string, cause: unknown): MaintenanceError {
  return new MaintenanceError(message, isConnectionLoss(cause) ? ExitCode.database : ExitCode.failed, { cause });
}

function interruptedBy(signal: AbortSignal): Error {
  const { reason } = signal;
  return reason instanceof LockLostError || reason instanceof CancelledError || reason instanceof InterruptedError ? reason : new InterruptedError();
}

function taskLogger(run: Run<RunRecord>): TaskLogger {
  return { info: (message) => run.deps.observer.notice(message), warn: (message) => run.notice(message) };
}

/**
 * The run path, the same for every task:
 * lock → plan → (dry-run stops) → backup → apply → verify → audit → unlock.
 * Never throws once the run record exists: the returned record says what happened.
 */
export async function runTask(
  deps: RunnerDeps,
  loaded: LoadedTask,
  params: Record<string, unknown>,
  settings: RunSettings,
): Promise<TaskRunRecord> {
  const { id, version, mode } = loaded.task;
  const task = { id, version, mode, checksum: loaded.checksum };
  const record: TaskRunRecord = { ...startingRecord(task, params, settings), kind: RunKind.run, backup: notReached, result: notReached };
  await deps.store.start(record);
  const run = new Run(deps, record, settings);
  try {
    await run.acquireLock();
    await reportDrift(run, loaded);
    const works = await run.step('plan', async () => {
      const planDb = deps.planDb ?? deps.db;
      const context: TaskContext<unknown> = { db: planDb, params, now: settings.now, log: taskLogger(run), services: settings.services ?? {} };
      const plans = checkedPlans(loaded.task.id, await loaded.task.plan(context as never));
      const planned: Array<{ work: Work; summary: PlanSummary }> = [];
      for (const [index, plan] of plans.entries()) {
        const work = workOf(loaded.task.id, { db: deps.db, planDb }, plan, await targetingOf(run, plan));
        const { sample, ...summary } = { ...withKind(await work.plan(), work), ...stepOf(index, plans.length) };
        if (summary.malformed !== undefined) {
          run.notice(`${summary.malformed.count} matched document(s) left alone as malformed, e.g. ${summary.malformed.examples.join('; ')}`);
        }
        deps.observer.planned({ ...summary, sample });
        planned.push({ work, summary: { ...summary, sample: sampleText(sample) } });
      }
      if (planned.length > 1) record.steps = planned.map(({ summary }) => ({ plan: reached(summary), backup: notReached, result: notReached, verify: notReached }));
      await planReached(run, runPlanOf(planned.map(({ summary }) => summary)));
      return planned;
    });
    const total = works.reduce((sum, { summary }) => sum + summary.count, 0);
    await confirmStep(run, total, works.map(({ summary }) => changeWords(summary, summary.count)).join(', then '));
    if (settings.dryRun) {
      run.skip(['backup', 'apply', 'verify'], 'dry run');
      return await run.finish(undefined);
    }

    const manifests = await run.step('backup', async () => {
      await assertRoomForBackup(settings.backupDir, works.reduce((sum, { summary }) => sum + summary.estimatedBackupBytes, 0));
      const written: BackupManifest[] = [];
      for (const [index, { work, summary }] of works.entries()) {
        const header = {
          runId: record._id,
          task: record.task,
          target: settings.target,
          collection: work.collection,
          kind: work.kind,
          fields: work.fields,
          targeting: work.targeting,
          ...(work.into === undefined ? {} : { into: work.into }),
          ...stepOf(index, works.length),
        };
        const before = countOf(written);
        const entries = counted(work.entries(settings.batchSize, run.signal), settings.batchSize, (done) =>
          run.progress('backup', before + done, Math.max(before + done, total)),
        );
        const manifest = await writeBackup(settings.backupDir, header, entries);
        written.push(manifest);
        if (record.steps) record.steps[index]!.backup = reached(backupSummaryOf(settings.backupDir, [manifest]));
      }
      record.backup = reached(backupSummaryOf(settings.backupDir, written));
      await deps.store.update(record._id, { backup: record.backup, ...(record.steps ? { steps: record.steps } : {}) });
      return written;
    });
    if (manifests.every((manifest) => manifest.count === 0)) {
      record.result = reached({ planned: 0, written: 0, skipped: 0, failed: 0, remaining: 0 });
      run.skip(['apply', 'verify'], 'nothing to change');
      return await run.finish(undefined);
    }
    await applyAndVerify(run, manifests);
    return await run.finish(undefined);
  } catch (error) {
    return await run.finish(error);
  }
}

/** What the record says of a backup: of one step, or of a run's steps together (its directory, their checksums). */
function backupSummaryOf(backupDir: string, manifests: readonly BackupManifest[]): BackupSummary {
  const first = manifests[0]!;
  return {
    path: backupPaths(backupDir, first.runId, manifests.length === 1 ? first.step?.index : 1).dir,
    sha256: manifests.map((manifest) => manifest.sha256).join(','),
    count: countOf(manifests),
    bytes: manifests.reduce((sum, manifest) => sum + manifest.bytes, 0),
  };
}

/**
 * `resume <runId>` of a run whose runner is gone: the run path again from the stopped run's backup (the work list),
 * under a new lock and a new run id that names it. Its plan and backup are the stopped run's; the confirm step
 * (window, production confirmation) is passed again; entries before the checkpoint are not written again.
 */
export async function continueRun(
  deps: RunnerDeps,
  stopped: TaskRunRecord,
  manifest: BackupManifest,
  settings: RunSettings,
): Promise<TaskRunRecord> {
  const stoppedBackup = outcomeOf(stopped.backup);
  if (manifest.kind === 'indexes' || stoppedBackup === undefined) {
    throw new UsageError(`run ${stopped._id} cannot be continued: only a run of documents with a backup can (run its task again)`);
  }
  if (manifest.target.database !== settings.target.database) {
    throw new BackupError(`backup of run ${manifest.runId} is of database "${manifest.target.database}", not "${settings.target.database}"`);
  }
  const manifests = await openRunBackups(settings.backupDir, manifest);
  const checkpoint = stopped.progress?.checkpoint.entries ?? 0;
  const record: TaskRunRecord = {
    ...startingRecord(stopped.task, stopped.params, settings),
    kind: RunKind.run,
    continues: { runId: stopped._id, checkpoint },
    plan: stopped.plan,
    backup: stoppedBackup,
    result: notReached,
    ...(stopped.steps === undefined
      ? {}
      : { steps: stopped.steps.map(({ plan, backup }) => ({ plan, backup, result: notReached, verify: notReached })) }),
  };
  await deps.store.start(record);
  const run = new Run(deps, record, settings);
  try {
    await run.acquireLock();
    run.skip(['plan', 'backup'], `continues run ${stopped._id}: its plan and backup`);
    run.notice(`continues run ${stopped._id} from its backup; the ${checkpoint} entries before its checkpoint are not written again`);
    await confirmStep(run, countOf(manifests), stepsWords(manifests));
    await applyAndVerify(run, manifests, checkpoint);
    return await run.finish(undefined);
  } catch (error) {
    return await run.finish(error);
  }
}

function countOf(manifests: readonly BackupManifest[]): number {
  return manifests.reduce((sum, manifest) => sum + manifest.count, 0);
}

/** What a run of these backups does, in order, for the confirmation: "DELETE 3 documents from memberships, then UPDATE …". */
function stepsWords(manifests: readonly BackupManifest[], restoring = false): string {
  return manifests.map((manifest) => changeWords(backedUpPlan(manifest), manifest.count, restoring)).join(', then ');
}

/** The targeting of a plan's writes (and of an archive's, in the run's database), said in the run's notices when there is something to say. */
async function targetingOf(run: Run<RunRecord>, plan: AnyPlan): Promise<PlanTargeting> {
  const resolve = run.settings.targeting;
  if (plan.kind === PlanKind.indexes || resolve === undefined) return { targeting: NO_TARGETING };
  const resolved = async (collection: string) => {
    const { targeting, notice } = await resolve(collection);
    if (notice !== undefined) run.notice(notice);
    return targeting;
  };
  const targeting = await resolved(plan.collection);
  if (plan.kind !== PlanKind.archive || (plan.into.database !== undefined && plan.into.database !== run.deps.db.databaseName)) return { targeting };
  return { targeting, archiveTargeting: await resolved(plan.into.collection) };
}

/** The plan's report, saying its kind (and an archive's destination) for the views and the confirmation. */
function withKind(report: PlanReport, work: Work): PlanReport {
  return { ...report, kind: planKindOf[work.kind], ...(work.into === undefined ? {} : { into: archiveName(work.into) }) };
}

/** Passes entries through, reporting progress once per batch. */
async function* counted<T>(entries: AsyncIterable<T>, every: number, report: (done: number) => void): AsyncGenerator<T> {
  let done = 0;
  for await (const entry of entries) {
    yield entry;
    if (++done % every === 0) report(done);
  }
  report(done);
}

/**
 * The safety gate between plan and the first write: the maintenance window,
 * `--expect`, and the operator's confirmation on production. A dry run only
 * records whether a real run would be inside the window.
 */
async function confirmStep(run: Run<RunRecord>, planned: number, what: string): Promise<void> {
  const { record, settings } = run;
  await run.step('confirm', async () => {
    const window = windowState(settings.safety, new Date(), settings.dryRun);
    record.window = window;
    assertWindow(window, settings.dryRun);
    if (window.overrideReason) {
      run.notice(`running outside the maintenance window (${window.windows.join(', ')}): ${window.overrideReason}`);
    }
    if (settings.dryRun) {
      if (!window.inside) run.notice('outside the maintenance window: a real run now would be refused');
      return;
    }
    record.confirmation = await confirmRun(settings.safety, settings.target.database, planned, what);
    await run.deps.store.update(record._id, { window, confirmation: record.confirmation });
  });
}

async function planReached(run: Run<RunRecord>, summary: PlanSummary): Promise<void> {
  run.record.plan = reached(summary);
  const { steps } = run.record;
  await run.deps.store.update(run.record._id, { plan: run.record.plan, ...(steps === undefined ? {} : { steps }) } as Partial<RunRecord>);
}

async function reportDrift(run: Run<TaskRunRecord>, loaded: LoadedTask): Promise<void> {
  const last = await run.deps.store.lastRun(loaded.task.id, loaded.task.version);
  if (last && last.task.checksum !== loaded.checksum) {
    run.record.checksumDrift = { recordedChecksum: last.task.checksum, recordedRunId: last._id };
    run.notice(
      `task ${migrationName(loaded.task)} changed since run ${last._id} without a version bump (checksum drift): bump its version`,
    );
  }
}

/**
 * Apply, then verify, each step's backup in order (one step for most tasks). The backup is the work list: only what
 * was saved (and still checks out) is written. The run stops at the first step that fails or is stopped; a
 * continuation's checkpoint counts entries across the steps, in order.
 */
async function applyAndVerify(run: Run<TaskRunRecord>, manifests: readonly BackupManifest[], checkpoint?: number): Promise<void> {
  const { settings, record } = run;
  const verified: BackupManifest[] = [];
  for (const manifest of manifests) verified.push(await openBackup(settings.backupDir, manifest.runId, manifest.step?.index));
  const offsets = offsetsOf(verified);
  const total = countOf(verified);
  const results: ApplyCounts[] = verified.map((manifest) => ({ planned: manifest.count, written: 0, skipped: 0, failed: 0, remaining: manifest.count }));
  const settle = (index: number, counts: ApplyCounts) => {
    results[index] = counts;
    record.result = reached(sumOf(results));
    if (record.steps) record.steps[index]!.result = reached(counts);
  };
  await run.step('apply', async () => {
    const steering = run.steered('apply', total);
    for (const [index, manifest] of verified.entries()) {
      const offset = offsets[index]!;
      const settledEarlier = checkpoint === undefined ? undefined : Math.min(manifest.count, Math.max(0, checkpoint - offset));
      const result = await backupWorkOf(run.deps.db, manifest).apply({
        batches: readBackupBatches(settings.backupDir, manifest, settings.batchSize),
        planned: manifest.count,
        signal: run.signal,
        ...run.paced(steering),
        ...(settledEarlier === undefined ? {} : { continuing: { checkpoint: settledEarlier } }),
        onBatch: (counts) => {
          const done = offset + counts.planned - counts.remaining;
          run.progress('apply', done, total);
          steering.batchSettled(done);
        },
      });
      settle(index, result.counts);
      for (const message of result.notices ?? []) run.notice(stepNotice(manifest, message));
      if (result.interrupted) throw interruptedBy(run.signal);
      if (result.failure) throw writeFailed(`task ${record.task.id}${stepLabel(manifest)}: ${result.failure}`, result.cause);
    }
  }).catch(async (error: unknown) => {
    // Whatever stopped apply, verify still re-reads what the backups list, when it can.
    await verifyStep(run, verified, 'applied').catch(() => undefined);
    throw error;
  });
  const verify = await verifyStep(run, verified, 'applied');
  for (const [index, counts] of verify.entries()) {
    // A written document another writer changed (or deleted) since is not a lost write: on a live
    // platform users come back online. Only one found back in its backed-up state can be.
    const written = results[index]!.written;
    if (counts.inTargetState + counts.changedSince + counts.missing < written) {
      throw new MaintenanceError(
        `verify found ${counts.inTargetState} documents in the intended state (and ${counts.changedSince} changed since by another writer), fewer than the ${written} written${stepLabel(verified[index]!)}`,
        ExitCode.failed,
      );
    }
  }
}

/** ", in step 2 of 3" of a backup that is one step of several; nothing for a run of one step. */
function stepLabel(manifest: BackupManifest): string {
  return manifest.step === undefined ? '' : ` (step ${manifest.step.index} of ${manifest.step.of})`;
}

function stepNotice(manifest: BackupManifest, message: string): string {
  return manifest.step === undefined ? message : `step ${manifest.step.index} of ${manifest.step.of}: ${message}`;
}

/**
 * Re-reads what each step's backup lists, once every step has written (or been undone): the figures of each, kept
 * with its step, and their sum as the run's.
 */
async function verifyStep(run: Run<RunRecord>, manifests: readonly BackupManifest[], goal: VerifyGoal): Promise<VerifyCounts[]> {
  const { settings, record } = run;
  return run.step('verify', async () => {
    const total = countOf(manifests);
    const all: VerifyCounts[] = [];
    let before = 0;
    for (const manifest of manifests) {
      // Verify is read-only and must run even after an interruption, so it ignores the run's signal.
      const counts = await backupWorkOf(run.deps.db, manifest).verify(
        readBackupBatches(settings.backupDir, manifest, settings.batchSize),
        goal,
        (progress) => run.progress('verify', before + progress.checked, total),
      );
      before += manifest.count;
      all.push(counts);
      const steps = record.steps;
      if (steps !== undefined) steps[stepPosition(steps, manifest)]!.verify = reached(counts);
    }
    record.verify = reached(sumOf(all));
    return all;
  });
}

/** Where a step's figures are in the record: a run keeps its steps in order, a restore in the order it undid them. */
function stepPosition(steps: ReadonlyArray<{ plan: StepResult<PlanSummary> }>, manifest: BackupManifest): number {
  return steps.findIndex((step) => outcomeOf(step.plan)?.step?.index === manifest.step?.index);
}

export interface RestoreSettings extends RunSettings {
  restoreOf: string;
  /** Overwrite documents changed since the run. */
  force: boolean;
}

/**
 * `restore <runId>`: the run path again, putting a backup's pre-images back.
 * The manifest comes from `openBackup`, which refuses an incomplete or corrupt
 * backup; one of another database is refused here, before anything is written.
 */
export async function restoreRun(deps: RunnerDeps, manifest: BackupManifest, settings: RestoreSettings): Promise<RestoreRecord> {
  if (manifest.target.database !== settings.target.database) {
    throw new BackupError(
      `backup of run ${manifest.runId} is of database "${manifest.target.database}", not "${settings.target.database}"`,
    );
  }
  // A run of several steps is undone from its last step to its first.
  const undoing = (await openRunBackups(settings.backupDir, manifest)).reverse();
  const original = await deps.store.get(settings.restoreOf);
  const task = { ...manifest.task, mode: original?.task.mode ?? TaskMode.repeatable };
  const record: RestoreRecord = {
    ...startingRecord(task, { force: settings.force }, settings),
    kind: RunKind.restore,
    restoreOf: settings.restoreOf,
    force: settings.force,
    restore: notReached,
  };
  await deps.store.start(record);
  const run = new Run(deps, record, settings);
  const total = countOf(undoing);
  try {
    await run.acquireLock();
    await run.step('plan', async () => {
      const summaries: PlanSummary[] = [];
      for (const undone of undoing) {
        const summary: PlanSummary = {
          ...backedUpPlan(undone),
          filter: `_id in the backup of run ${undone.runId}${stepLabel(undone)}`,
          fields: undone.fields,
          count: undone.count,
          estimatedBackupBytes: 0,
          // The values are in the backup's entries: a restore targets as its run did, whatever the flags say now.
          targeting: undone.targeting ?? NO_TARGETING,
          ...(undone.step === undefined ? {} : { step: undone.step }),
        };
        const sample = await restoreSample(settings.backupDir, undone);
        deps.observer.planned({ ...summary, sample });
        summaries.push({ ...summary, sample: sampleText(sample) });
      }
      if (undoing.length > 1) record.steps = summaries.map((summary) => ({ plan: reached(summary), restore: notReached, verify: notReached }));
      await planReached(run, runPlanOf(summaries));
    });
    await confirmStep(run, total, stepsWords(undoing, true));
    if (settings.dryRun) {
      run.skip(['backup', 'apply', 'verify'], 'dry run');
      return await run.finish(undefined);
    }
    run.skip(['backup'], 'a restore writes from the backup of the run');
    await run.step('apply', async () => {
      const steering = run.steered('apply', total);
      const restored: RestoreCounts[] = undoing.map((undone) => ({ planned: undone.count, restored: 0, alreadyRestored: 0, conflicts: 0, forced: 0, remaining: undone.count }));
      const offsets = offsetsOf(undoing);
      for (const [index, undone] of undoing.entries()) {
        const before = offsets[index]!;
        const outcome = await backupWorkOf(deps.db, undone).restore(undone.count, readBackupBatches(settings.backupDir, undone, settings.batchSize), {
          force: settings.force,
          signal: run.signal,
          ...run.paced(steering),
          onBatch: (counts) => {
            const done = before + counts.planned - counts.remaining;
            run.progress('apply', done, total);
            steering.batchSettled(done);
          },
        });
        restored[index] = outcome.counts;
        record.restore = reached(sumOf(restored));
        if (record.steps) record.steps[index]!.restore = reached(outcome.counts);
        if (outcome.interrupted) throw interruptedBy(run.signal);
        if (outcome.failure) throw writeFailed(`${outcome.failure}${stepLabel(undone)}`, outcome.cause);
      }
    });
    await verifyStep(run, undoing, 'restored');
    return await run.finish(undefined);
  } catch (error) {
    return await run.finish(error);
  }
}

/** What a backup says of the plan it came from: its kind, its collection and an archive's destination. */
function backedUpPlan(manifest: BackupManifest): Pick<PlanSummary, 'kind' | 'collection' | 'into'> {
  return { kind: planKindOf[manifest.kind], collection: manifest.collection, ...(manifest.into === undefined ? {} : { into: archiveName(manifest.into) }) };
}

/** What a restore puts back, for the first few documents: the run's values (none for a document it removed) → the pre-image. */
async function restoreSample(backupDir: string, manifest: BackupManifest): Promise<PlanSample[]> {
  const removed = manifest.kind === 'deletes' || manifest.kind === 'archive';
  for await (const batch of readBackupBatches(backupDir, manifest, SAMPLE_SIZE)) {
    return batch.map((entry) => ({ _id: entry._id, before: removed ? {} : afterImage(entry).values, after: entry.before }));
  }
  return [];
}
