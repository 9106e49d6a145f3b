import { setTimeout as sleep } from 'node:timers/promises';
import type { Pace, RunObserver, RunStore } from './ports.ts';
import type { ProgressMeter } from './progress.ts';
import { ProgressState, RunStatus, SteerAction, type RunProgress, type SteerRequest } from './run-record.ts';

/** Progress writes and request reads, at most this often: a run of small batches must not write its record per batch. */
export const CHECK_IN_EVERY_MS = 1000;

/**
 * Which request a run takes in which status, and which pending (not yet acted on) request a new one may replace.
 * Data, like the status table: the store turns it into the one conditional write that records a request.
 */
export const steerRules: Readonly<Record<SteerAction, { from: readonly RunStatus[]; replaces: readonly SteerAction[] }>> = {
  pause: { from: [RunStatus.running], replaces: [] },
  resume: { from: [RunStatus.paused], replaces: [] },
  cancel: { from: [RunStatus.running, RunStatus.paused], replaces: [SteerAction.pause, SteerAction.resume] },
};

export interface SteeredRun {
  readonly id: string;
  /** Kept in step with the database as the run pauses and resumes. */
  status: RunStatus;
  notice(message: string): void;
  cancel(request: SteerRequest): void;
}

/**
 * A run's writing step, seen and steered from elsewhere: between batches, at
 * most once a second, it writes its progress to its record and reads the
 * request waiting there. A pause holds it here (its lock's heartbeat goes on)
 * until a resume or a cancel, or until the run's signal aborts.
 */
export class Steering {
  private checkedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: { store: RunStore; observer: RunObserver; pace?: Pace },
    private readonly run: SteeredRun,
    private readonly meter: ProgressMeter,
    private readonly everyMs = CHECK_IN_EVERY_MS,
  ) {}

  batchSettled(done: number): void {
    this.meter.batchSettled(done);
    this.deps.observer.runProgress?.(this.snapshot());
  }

  /** The last progress, for the record as it ends. */
  final(): RunProgress {
    return this.snapshot();
  }

  /** Before each batch: returns when the run may write, or should stop (its signal aborted, or it was cancelled). */
  async beforeBatch(signal: AbortSignal): Promise<void> {
    if (Date.now() - this.checkedAt < this.everyMs) return;
    let request = await this.checkIn();
    for (;;) {
      if (request !== null) await this.act(request);
      if (this.run.status !== RunStatus.paused || signal.aborted) return;
      this.deps.observer.runProgress?.(this.snapshot());
      await sleep(this.everyMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      request = await this.checkIn();
    }
  }

  /**
   * Holds a run its runner paused (its window closed) while `hold()` says so: progress is written as in a pause, a
   * cancel is acted on; a pause or resume is acknowledged and said, but the run waits for `hold()` all the same.
   */
  async holdWhile(hold: () => boolean, signal: AbortSignal): Promise<void> {
    while (!signal.aborted && hold()) {
      this.deps.observer.runProgress?.(this.snapshot());
      await sleep(this.everyMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      const request = await this.checkIn();
      if (request?.action === SteerAction.cancel) await this.act(request);
      else if (request !== null && (await this.acknowledge(request, this.run.status))) {
        this.run.notice(`${request.action} asked by ${request.by} while waiting for a maintenance window: it still waits`);
      }
    }
    this.meter.resumed();
  }

  private async act(request: SteerRequest): Promise<void> {
    const since = `${request.by} at ${request.at.toISOString()}`;
    if (request.action === SteerAction.cancel) {
      if (await this.acknowledge(request, this.run.status)) this.run.cancel(request);
    } else if (request.action === SteerAction.pause) {
      if (await this.acknowledge(request, RunStatus.paused)) this.run.notice(`paused by ${since}; writing nothing until resumed`);
    } else if (this.run.status === RunStatus.paused) {
      // A resume is only recorded for a paused run (steerRules): the run is paused whenever it reads one.
      if (await this.acknowledge(request, RunStatus.running)) {
        this.meter.resumed();
        this.run.notice(`resumed by ${since}`);
      }
    }
  }

  /**
   * A check-in that fails (the database briefly away) reads no request: progress is for onlookers, and the writes
   * themselves, the lock and the end of the run say for the run whether the database is there.
   */
  private async checkIn(): Promise<SteerRequest | null> {
    this.checkedAt = Date.now();
    return this.deps.store.checkIn(this.run.id, this.snapshot()).catch(() => null);
  }

  /** Acts on a request only if it is still the one waiting: a request that replaced it is read next time. */
  private async acknowledge(request: SteerRequest, to: RunStatus): Promise<boolean> {
    // Not acknowledged, not acted on: the request stays in the record for the next check-in.
    const acted = await this.deps.store.acknowledge(this.run.id, request, this.run.status, to).catch(() => false);
    if (acted && to !== this.run.status) this.run.status = to;
    return acted;
  }

  private snapshot(): RunProgress {
    const state =
      this.run.status === RunStatus.paused
        ? ProgressState.paused
        : this.deps.pace?.throttled?.() === true
          ? ProgressState.throttled
          : ProgressState.writing;
    return this.meter.snapshot(state);
  }
}
