import { MongoServerError, type Collection, type Db } from 'mongodb';
import { LockHeldError } from '../engine/errors.ts';
import type { LockHolder, RunLock } from '../engine/ports.ts';
import { LockTakeoverReason, type LockTakeover } from '../engine/run-record.ts';
import { isGoneFromHere, thisProcess, type ProcessIdentity } from './process-identity.ts';

export const LOCKS_COLLECTION = 'maintenance_locks';
export const LOCK_CLAIMS_COLLECTION = 'maintenance_lock_claims';
export const DEFAULT_LOCK_TTL_MS = 60_000;
/** One lock per target database: one run at a time, whatever the task. */
const LOCK_ID = 'maintenance';
/** Claims on one lock: past this many, its takers are stuck behind claimers that died, which is not worth waiting on. */
const MAX_CLAIMS = 10;

/** Locks written by earlier versions lack the holder's process: those are only ever taken over once expired. */
interface LockDocument extends Partial<ProcessIdentity> {
  _id: string;
  runId: string;
  owner: string;
  acquiredAt: Date;
  expiresAt: Date;
}

/** The right to take over one holder's lock: `<runId>#<n>`, the n-th claim on it. */
interface ClaimDocument {
  _id: string;
  lockRunId: string;
  claimedBy: string;
  /** A claimer that died before taking the lock over stops blocking its successors then. */
  expiresAt: Date;
}

/**
 * The lock lives in the target database, so runner hosts coordinate through the target and nothing of their
 * own. Taken by an insert on a fixed `_id`. An expired lock, or one whose holder is known gone, is taken over
 * through a claim: an insert on an `_id` naming the holder's run. An insert is the one write every engine
 * makes atomic (FerretDB 1.x reads, then writes a document back for a conditional update, so two takers could
 * both win one), so exactly one taker per holder gets to rewrite the lock; never check-then-insert.
 */
export class MongoRunLock implements RunLock {
  private readonly locks: Collection<LockDocument>;
  private readonly claims: Collection<ClaimDocument>;

  constructor(
    db: Db,
    readonly ttlMs: number = DEFAULT_LOCK_TTL_MS,
  ) {
    this.locks = db.collection<LockDocument>(LOCKS_COLLECTION);
    this.claims = db.collection<ClaimDocument>(LOCK_CLAIMS_COLLECTION);
  }

  async acquire(holder: LockHolder): Promise<{ takeover?: LockTakeover }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = new Date();
      const lock: LockDocument = { _id: LOCK_ID, ...holder, ...thisProcess(), acquiredAt: now, expiresAt: this.expiry(now) };
      if (await this.insertOrDuplicate(this.locks, lock)) return {};
      const current = await this.locks.findOne({ _id: LOCK_ID });
      // Released between our insert and our read: try again.
      if (current === null) continue;
      const takeover = whyTakeable(current, now);
      if (takeover === undefined) throw new LockHeldError(current);
      const claim = await this.claim(current, holder, now);
      if (claim === 'taken') throw new LockHeldError(current, 'another runner is taking it over right now');
      try {
        // A whole replacement: nothing of the previous holder's process may stay behind in the lock.
        const rewritten = await this.locks.replaceOne({ _id: LOCK_ID, runId: current.runId }, lock);
        if (rewritten.matchedCount === 1) return { takeover };
      } finally {
        // Safe once the lock names someone else: a late taker's claim on it then rewrites nothing.
        await this.claims.deleteMany({ lockRunId: current.runId });
      }
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

  /** The holder of the lock while it may still be running: none when the lock is free, expired, or its holder gone. */
  async liveHolder(): Promise<LockHolder | undefined> {
    const current = await this.locks.findOne({ _id: LOCK_ID });
    if (current === null || whyTakeable(current, new Date()) !== undefined) return undefined;
    return { runId: current.runId, owner: current.owner };
  }

  async release(holder: LockHolder): Promise<void> {
    await this.locks.deleteOne({ _id: LOCK_ID, runId: holder.runId });
  }

  /** The first free claim on the holder's lock, skipping those whose claimer died; 'taken' when one is live. */
  private async claim(current: LockDocument, holder: LockHolder, now: Date): Promise<'claimed' | 'taken'> {
    for (let n = 0; n < MAX_CLAIMS; n++) {
      const claim: ClaimDocument = { _id: `${current.runId}#${n}`, lockRunId: current.runId, claimedBy: holder.runId, expiresAt: this.expiry(now) };
      if (await this.insertOrDuplicate(this.claims, claim)) return 'claimed';
      const existing = await this.claims.findOne({ _id: claim._id });
      if (existing !== null && existing.expiresAt.getTime() >= now.getTime()) return 'taken';
    }
    return 'taken';
  }

  /** True when inserted; false when the `_id` was already there. */
  private async insertOrDuplicate<T extends { _id: string }>(collection: Collection<T>, document: T): Promise<boolean> {
    try {
      await collection.insertOne(document as never);
      return true;
    } catch (error) {
      if (error instanceof MongoServerError && error.code === 11000) return false;
      throw error;
    }
  }

  private expiry(from: Date): Date {
    return new Date(from.getTime() + this.ttlMs);
  }
}

/** Why the current lock may be taken over now, or undefined when its holder may still be running. */
function whyTakeable(current: LockDocument, now: Date): LockTakeover | undefined {
  const previous = { previousOwner: current.owner, previousRunId: current.runId, expiredAt: current.expiresAt };
  if (current.expiresAt.getTime() < now.getTime()) return { ...previous, reason: LockTakeoverReason.expired };
  if (isGoneFromHere(current)) {
    return { ...previous, reason: LockTakeoverReason.holderGone, detail: `its process ${current.pid} on ${current.host} no longer exists` };
  }
  return undefined;
}
