import { ProgressState, type RunProgress, type RunStep } from './run-record.ts';

/** Batches the rate is measured over: recent enough to follow a change of pace, enough to smooth one slow batch. */
const RECENT_BATCHES = 10;

/**
 * Where a run's writing step is: done out of planned, the rate over the recent
 * batches, and the time left at that rate. The ETA is no number while the run
 * is throttled or paused: the rate then says nothing about the time left.
 */
export class ProgressMeter {
  private readonly recent: Array<{ at: number; done: number }> = [];
  private batches = 0;
  private done = 0;

  constructor(
    private readonly step: RunStep,
    private readonly planned: number,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.recent.push({ at: this.now(), done: 0 });
  }

  /** After a batch settled: `done` entries of the plan now are. */
  batchSettled(done: number): void {
    this.batches += 1;
    this.done = done;
    this.recent.push({ at: this.now(), done });
    if (this.recent.length > RECENT_BATCHES + 1) this.recent.shift();
  }

  /** After a pause: the rate is measured afresh, since the time paused says nothing about the pace. */
  resumed(): void {
    this.recent.splice(0, this.recent.length, { at: this.now(), done: this.done });
  }

  snapshot(state: ProgressState): RunProgress {
    const docsPerSecond = this.rate();
    const left = this.planned - this.done;
    const etaSeconds =
      state !== ProgressState.writing || docsPerSecond === null ? null : docsPerSecond === 0 ? null : Math.ceil(left / docsPerSecond);
    return {
      step: this.step,
      state,
      done: this.done,
      planned: this.planned,
      docsPerSecond,
      etaSeconds: left === 0 ? 0 : etaSeconds,
      checkpoint: { batches: this.batches, entries: this.done },
      at: new Date(this.now()),
    };
  }

  private rate(): number | null {
    if (this.recent.length < 3) return null;
    const first = this.recent[0]!;
    const last = this.recent.at(-1)!;
    const seconds = (last.at - first.at) / 1000;
    return seconds <= 0 ? null : Math.round(((last.done - first.done) / seconds) * 10) / 10;
  }
}
