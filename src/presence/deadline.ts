import { MongoServerError } from 'mongodb';

/** MaxTimeMSExpired: the server stopped the operation at its `maxTimeMS`. */
const MAX_TIME_EXPIRED = 50;

/** A figure measured in time, or why it is not known: never a zero standing in for "did not finish". */
export type Measured<T> = { known: true; value: T } | { known: false; reason: string };

/** What every bounded read is given: the server stops at `maxTimeMS`, the driver gives up at `signal` (a stalled network). */
export interface TimeLimit {
  maxTimeMS: number;
  signal: AbortSignal;
}

/**
 * One time budget for every query of a `status`: `maxTimeMs` from its
 * creation. The server-side limit alone would not bound a reply that never
 * arrives, the client-side one alone would leave the server working.
 */
export class Deadline {
  readonly #endsAt: number;

  constructor(readonly maxTimeMs: number) {
    this.#endsAt = performance.now() + maxTimeMs;
  }

  /** The time left, as the options of a read; undefined when it is spent. */
  #limit(): TimeLimit | undefined {
    const left = Math.floor(this.#endsAt - performance.now());
    return left <= 0 ? undefined : { maxTimeMS: left, signal: AbortSignal.timeout(left) };
  }

  get reason(): string {
    return `not measured within --max-time ${this.maxTimeMs / 1000} s`;
  }

  /**
   * Runs one read within the time left; a read cut short by the budget is
   * unknown, any other failure is thrown. The race bounds reads the driver
   * cannot abort (`estimatedDocumentCount` takes no signal).
   */
  async measure<T>(read: (limit: TimeLimit) => Promise<T>): Promise<Measured<T>> {
    const limit = this.#limit();
    if (limit === undefined) return { known: false, reason: this.reason };
    const reading = read(limit);
    // Its outcome no longer matters once the budget is spent.
    reading.catch(() => undefined);
    const spent = new Promise<never>((_, reject) =>
      limit.signal.addEventListener('abort', () => reject(limit.signal.reason as Error), { once: true }),
    );
    try {
      return { known: true, value: await Promise.race([reading, spent]) };
    } catch (error) {
      if (limit.signal.aborted || (error instanceof MongoServerError && error.code === MAX_TIME_EXPIRED)) {
        return { known: false, reason: this.reason };
      }
      throw error;
    }
  }
}
