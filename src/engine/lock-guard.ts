import { LockLostError } from './errors.ts';
import type { LockHolder, RunLock } from './ports.ts';
import type { LockTakeover } from './run-record.ts';

export interface HeldLock {
  takeover?: LockTakeover;
  /** Aborts when the run's own signal does, or when the lock is lost. */
  signal: AbortSignal;
  release(): Promise<void>;
}

/**
 * Takes the lock and keeps it alive with a heartbeat. If renewals stop working
 * for most of the lock's lifetime, another runner may take it over, so the
 * run is stopped before that can happen.
 */
export async function holdLock(lock: RunLock, holder: LockHolder, runSignal: AbortSignal): Promise<HeldLock> {
  const { takeover } = await lock.acquire(holder);
  const lost = new AbortController();
  let renewedAt = Date.now();
  let renewing = false;
  const tooLate = () => Date.now() - renewedAt > lock.ttlMs * 0.8;
  const heartbeat = setInterval(async () => {
    // A renewal still unanswered counts as failed: a database that answers it later cannot give back the time lost.
    if (renewing) {
      if (tooLate()) lost.abort(new LockLostError('it could not be renewed in time'));
      return;
    }
    renewing = true;
    try {
      const renewed = await lock.renew(holder);
      if (lost.signal.aborted) return;
      if (renewed) renewedAt = Date.now();
      else lost.abort(new LockLostError('another runner took it over'));
    } catch {
      if (tooLate()) lost.abort(new LockLostError('it could not be renewed in time'));
    } finally {
      renewing = false;
    }
  }, Math.max(50, Math.floor(lock.ttlMs / 4)));
  heartbeat.unref();
  return {
    takeover,
    signal: AbortSignal.any([runSignal, lost.signal]),
    async release() {
      clearInterval(heartbeat);
      // A release that fails (database gone) leaves the lock to expire on its own.
      await lock.release(holder).catch(() => undefined);
    },
  };
}
