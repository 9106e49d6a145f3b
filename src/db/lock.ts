import { MongoServerError, type Collection, type Db } from 'mongodb';
import { LockHeldError } from '../engine/errors.ts';
import type { LockHolder, RunLock } from '../engine/ports.ts';
import type { LockTakeover } from '../engine/run-record.ts';

export const LOCKS_COLLECTION = 'maintenance_locks';
export const DEFAULT_LOCK_TTL_MS = 60_000;
/** One lock per target database: one run at a time, whatever the task. */
const LOCK_ID = 'maintenance';

interface LockDocument {
  _id: string;
  runId: string;
  owner: string;
  acquiredAt: Date;
  expiresAt: Date;
}

/**
 * The lock lives in the target database, so runner hosts coordinate through
 * the target and nothing of their own. Taken atomically: an insert on a fixed
 * `_id`, or a conditional update of an expired lock; never check-then-insert.
 */
export class MongoRunLock implements RunLock {
  private readonly locks: Collection<LockDocument>;

  constructor(
    db: Db,
    readonly ttlMs: number = DEFAULT_LOCK_TTL_MS,
  ) {
    this.locks = db.collection<LockDocument>(LOCKS_COLLECTION);
  }

  async acquire(holder: LockHolder): Promise<{ takeover?: LockTakeover }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = new Date();
      const lock: LockDocument = { _id: LOCK_ID, ...holder, acquiredAt: now, expiresAt: this.expiry(now) };
      try {
        await this.locks.insertOne(lock);
        return {};
      } catch (error) {
        if (!(error instanceof MongoServerError && error.code === 11000)) throw error;
      }
      const expired = await this.locks.findOneAndUpdate(
        { _id: LOCK_ID, expiresAt: { $lt: now } },
        { $set: { runId: holder.runId, owner: holder.owner, acquiredAt: now, expiresAt: lock.expiresAt } },
        { returnDocument: 'before' },
      );
      if (expired) {
        return { takeover: { previousOwner: expired.owner, previousRunId: expired.runId, expiredAt: expired.expiresAt } };
      }
      const current = await this.locks.findOne({ _id: LOCK_ID });
      // Released between our insert and our read: try again.
      if (current) throw new LockHeldError(current);
    }
    throw new LockHeldError({ runId: 'unknown', owner: 'a runner that keeps taking and releasing it', expiresAt: new Date() });
  }

  async renew(holder: LockHolder): Promise<boolean> {
    const result = await this.locks.updateOne(
      { _id: LOCK_ID, runId: holder.runId },
      { $set: { expiresAt: this.expiry(new Date()) } },
    );
    return result.matchedCount === 1;
  }

  async release(holder: LockHolder): Promise<void> {
    await this.locks.deleteOne({ _id: LOCK_ID, runId: holder.runId });
  }

  private expiry(from: Date): Date {
    return new Date(from.getTime() + this.ttlMs);
  }
}
