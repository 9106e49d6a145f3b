import { MongoServerError, type Db } from 'mongodb';

export const SCHEDULES_COLLECTION = 'maintenance_schedules';
/** Claims older than this many intervals are dropped as new ones are made. */
const KEPT_INTERVALS = 100;

interface ClaimDocument {
  /** `<schedule> @ <interval start>`: one document per interval of a schedule. */
  _id: string;
  schedule: string;
  intervalStart: Date;
  runner: string;
  claimedAt: Date;
}

export type IntervalClaim = { claimed: true } | { claimed: false; holder: string };

/**
 * Claims one interval of a schedule for this runner. Hosts running the same
 * schedule on a target agree through the target on which of them runs each
 * interval: the first to claim it. The claim is an insert on an `_id` naming
 * the interval, the one write every engine makes atomic: FerretDB 1.x has no
 * atomic conditional update (it reads, then writes the document back by
 * `_id`), so a conditional update would let two hosts win.
 */
export async function claimInterval(
  db: Db,
  schedule: string,
  interval: { start: Date; ms: number },
  runner: string,
): Promise<IntervalClaim> {
  const claims = db.collection<ClaimDocument>(SCHEDULES_COLLECTION);
  const _id = `${schedule} @ ${interval.start.toISOString()}`;
  try {
    await claims.insertOne({ _id, schedule, intervalStart: interval.start, runner, claimedAt: new Date() });
  } catch (error) {
    if (!(error instanceof MongoServerError && error.code === 11000)) throw error;
    const holder = await claims.findOne({ _id });
    return { claimed: false, holder: holder?.runner ?? 'another runner' };
  }
  await claims.deleteMany({ schedule, intervalStart: { $lt: new Date(interval.start.getTime() - KEPT_INTERVALS * interval.ms) } });
  return { claimed: true };
}
