import { setTimeout as sleep } from 'node:timers/promises';
import type { Pace } from './runner.ts';

const LATENCY_WINDOW = 21;
/** A batch this many times slower than the running median means the database is under pressure. */
const PRESSURE_RATIO = 3;
const MIN_PRESSURE_MS = 20;
const MAX_SLOWDOWN = 16;
const CALM_BATCHES_TO_RECOVER = 5;

export interface PaceOptions {
  /** Documents per second; undefined for as fast as the database allows. */
  rate?: number;
  clock?: { now(): number; sleep(ms: number): Promise<void> };
  onNotice?: (message: string) => void;
}

/**
 * Holds a run to its rate limit, and backs off when write latency rises well
 * above its running median: each slow batch doubles the pause between
 * batches (up to ×16), calm batches halve it back. Every change is a notice,
 * shown to the operator and kept in the audit.
 */
export class AdaptivePace implements Pace {
  private nextStart = 0;
  private readonly latencies: number[] = [];
  private slowdown = 1;
  private calmBatches = 0;
  private readonly events: string[] = [];
  private readonly clock: NonNullable<PaceOptions['clock']>;

  constructor(private readonly options: PaceOptions = {}) {
    this.clock = options.clock ?? { now: () => performance.now(), sleep: (ms) => sleep(ms) };
  }

  async beforeBatch(size: number): Promise<void> {
    const now = this.clock.now();
    const start = Math.max(now, this.nextStart);
    if (start > now) await this.clock.sleep(start - now);
    const spacing = this.options.rate ? (size / this.options.rate) * 1000 : 0;
    this.nextStart = start + spacing;
  }

  afterBatch(_size: number, elapsedMs: number): void {
    const median = this.median();
    this.latencies.push(elapsedMs);
    if (this.latencies.length > LATENCY_WINDOW) this.latencies.shift();
    if (median === undefined) return;
    if (elapsedMs > Math.max(median * PRESSURE_RATIO, MIN_PRESSURE_MS)) {
      this.calmBatches = 0;
      if (this.slowdown < MAX_SLOWDOWN) {
        this.slowdown *= 2;
        this.notify(
          `backing off: a write batch took ${Math.round(elapsedMs)} ms against a median of ${Math.round(median)} ms; pausing ×${this.slowdown}`,
        );
      }
    } else if (this.slowdown > 1 && ++this.calmBatches >= CALM_BATCHES_TO_RECOVER) {
      this.calmBatches = 0;
      this.slowdown /= 2;
      this.notify(
        this.slowdown === 1 ? 'write latency is back to normal: full pace' : `write latency falling: pausing ×${this.slowdown}`,
      );
    }
    // The pause grows with the slowdown: the database gets (slowdown - 1) batch-times of rest.
    this.nextStart = Math.max(this.nextStart, this.clock.now() + (this.slowdown - 1) * Math.max(elapsedMs, median));
  }

  notices(): string[] {
    return [...this.events];
  }

  private notify(message: string): void {
    this.events.push(message);
    this.options.onNotice?.(message);
  }

  private median(): number | undefined {
    if (this.latencies.length < 3) return undefined;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }
}
