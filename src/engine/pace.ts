import { setTimeout as sleep } from 'node:timers/promises';
import type { Pace } from './ports.ts';

const LATENCY_WINDOW = 21;
/** A batch this many times slower than the running median means the database is under pressure. */
const PRESSURE_RATIO = 3;
/** Below this, a slow batch is the client's or the network's jitter (a busy event loop, a GC), not the database's pressure. */
const MIN_PRESSURE_MS = 100;
const MAX_SLOWDOWN = 16;
const CALM_BATCHES_TO_RECOVER = 5;
/** Replication lag is read at most this often while it is within bounds (one command each time). */
const LAG_CHECK_EVERY_MS = 1000;
const LAG_FIRST_WAIT_MS = 250;
const LAG_MAX_WAIT_MS = 8000;
/** WriteConcernFailed before MongoDB 8.1, WriteConcernTimeout since: `w` was not satisfied within `wtimeout`. */
const WRITE_CONCERN_TIMEOUT = 64;

export interface SecondaryLag {
  seconds: number;
  member: string;
}

export interface PaceClock {
  now(): number;
  /** Resolves after `ms`, or early when the signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface PaceOptions {
  /** Documents per second; undefined for as fast as the database allows. */
  rate?: number;
  /** Secondaries further behind than this many seconds hold the writes until they catch up. */
  maxLagSeconds?: number;
  /** Reads the secondaries' lag; absent where nothing replicates (standalone, mongos, FerretDB). */
  readLag?: () => Promise<SecondaryLag | undefined>;
  clock?: PaceClock;
  onNotice?: (message: string) => void;
}

const realClock: PaceClock = {
  now: () => performance.now(),
  sleep: (ms, signal) => sleep(ms, undefined, { signal }).catch(() => undefined),
};

/**
 * Holds a run to its rate limit, and backs off when the database shows
 * pressure: a batch much slower than the running median or a write-concern
 * timeout doubles the pause between batches (up to ×16), calm batches halve it
 * back; secondaries lagging beyond the limit hold the next batch until they
 * catch up. Every change is a notice, shown to the operator and kept in the audit.
 */
export class AdaptivePace implements Pace {
  private nextStart = 0;
  private readonly latencies: number[] = [];
  private slowdown = 1;
  private calmBatches = 0;
  private lagCheckedAt = Number.NEGATIVE_INFINITY;
  private lagging = false;
  private readonly events: string[] = [];
  private readonly clock: PaceClock;

  constructor(private readonly options: PaceOptions = {}) {
    this.clock = options.clock ?? realClock;
  }

  async beforeBatch(size: number, signal?: AbortSignal): Promise<void> {
    await this.waitForSecondaries(signal);
    const now = this.clock.now();
    const start = Math.max(now, this.nextStart);
    if (start > now) await this.clock.sleep(start - now, signal);
    const spacing = this.options.rate ? (size / this.options.rate) * 1000 : 0;
    this.nextStart = start + spacing;
  }

  /** `error` is set when the batch failed: only a write-concern timeout says anything about pressure. */
  afterBatch(_size: number, elapsedMs: number, error?: unknown): void {
    const median = this.median();
    if (error !== undefined) {
      if (isWriteConcernTimeout(error)) {
        this.pressure(`the server reported a write-concern timeout after ${Math.round(elapsedMs)} ms`, elapsedMs, median);
      }
      return;
    }
    this.latencies.push(elapsedMs);
    if (this.latencies.length > LATENCY_WINDOW) this.latencies.shift();
    if (median === undefined) return;
    if (elapsedMs > Math.max(median * PRESSURE_RATIO, MIN_PRESSURE_MS)) {
      this.pressure(`a write batch took ${Math.round(elapsedMs)} ms against a median of ${Math.round(median)} ms`, elapsedMs, median);
      return;
    }
    if (this.slowdown > 1 && ++this.calmBatches >= CALM_BATCHES_TO_RECOVER) {
      this.calmBatches = 0;
      this.slowdown /= 2;
      this.notify(
        this.slowdown === 1 ? 'write latency is back to normal: full pace' : `write latency falling: pausing ×${this.slowdown}`,
      );
    }
    this.rest(elapsedMs, median);
  }

  notices(): string[] {
    return [...this.events];
  }

  throttled(): boolean {
    return this.slowdown > 1 || this.lagging;
  }

  private pressure(what: string, elapsedMs: number, median: number | undefined): void {
    this.calmBatches = 0;
    if (this.slowdown < MAX_SLOWDOWN) {
      this.slowdown *= 2;
      this.notify(`backing off: ${what}; pausing ×${this.slowdown}`);
    }
    this.rest(elapsedMs, median);
  }

  /** The pause grows with the slowdown: the database gets (slowdown - 1) batch-times of rest. */
  private rest(elapsedMs: number, median: number | undefined): void {
    this.nextStart = Math.max(this.nextStart, this.clock.now() + (this.slowdown - 1) * Math.max(elapsedMs, median ?? 0));
  }

  /**
   * Before a batch, at most once a second while replication keeps up (every
   * time while it does not): waits, with growing pauses, until no secondary
   * is further behind than the limit. An unreadable lag does not hold writes.
   */
  private async waitForSecondaries(signal?: AbortSignal): Promise<void> {
    const { readLag, maxLagSeconds } = this.options;
    if (readLag === undefined || maxLagSeconds === undefined) return;
    if (!this.lagging && this.clock.now() - this.lagCheckedAt < LAG_CHECK_EVERY_MS) return;
    let wait = LAG_FIRST_WAIT_MS;
    while (!signal?.aborted) {
      this.lagCheckedAt = this.clock.now();
      const lag = await readLag().catch(() => undefined);
      if (lag === undefined || lag.seconds <= maxLagSeconds) {
        if (this.lagging) {
          this.lagging = false;
          this.notify(`replication caught up${lag ? ` (${lag.member} ${formatSeconds(lag.seconds)} behind)` : ''}: writing again`);
        }
        return;
      }
      if (!this.lagging) {
        this.lagging = true;
        this.notify(
          `backing off: secondary ${lag.member} is ${formatSeconds(lag.seconds)} behind the primary (the lag limit is ${maxLagSeconds} s); waiting for it to catch up`,
        );
      }
      await this.clock.sleep(wait, signal);
      wait = Math.min(wait * 2, LAG_MAX_WAIT_MS);
    }
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

function formatSeconds(seconds: number): string {
  return `${Math.round(seconds * 10) / 10} s`;
}

/**
 * A write-concern timeout, however the driver wraps it: a bulk write's
 * write-concern error, a `MongoWriteConcernError`, or `errInfo.wtimeout`.
 * The writes themselves were applied on the primary; replication is behind.
 */
export function isWriteConcernTimeout(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as {
    code?: unknown;
    errInfo?: { wtimeout?: unknown };
    result?: { writeConcernError?: { code?: unknown }; getWriteConcernError?: () => { code?: unknown } | undefined };
  };
  const writeConcernError =
    typeof candidate.result?.getWriteConcernError === 'function'
      ? candidate.result.getWriteConcernError()
      : candidate.result?.writeConcernError;
  return (
    candidate.code === WRITE_CONCERN_TIMEOUT ||
    candidate.errInfo?.wtimeout === true ||
    writeConcernError?.code === WRITE_CONCERN_TIMEOUT
  );
}
