import { ObjectId, type Document } from 'mongodb';

const MINUTE = 60_000;

/** Where a platform keeps presence: the field that says online, and the last activity's date. */
export interface PresenceFields {
  online: string;
  lastSeen: string;
}

/** The tool's default model: boolean `isOnline`, Date `lastSeen`. */
export const DEFAULT_PRESENCE_FIELDS: PresenceFields = { online: 'isOnline', lastSeen: 'lastSeen' };

/** Users of one kind: how many, and what the nth of them (counted from 0 within the kind) looks like. */
export interface Cohort {
  count: number;
  /** Default: a new ObjectId. `index` counts across the whole population. */
  id?: (n: number, index: number) => unknown;
  /** Default: no name. */
  name?: (n: number, index: number) => string;
  /** The online field's value; without it, the user has no online field. */
  online?: (n: number) => unknown;
  /** Minutes from the last activity to `now`; without it, no last-activity field. */
  minutesAgo?: (n: number) => number;
  /** Every other field (companions, scores, a last activity that is not a date), written after the presence fields. */
  extra?: (n: number) => Document;
}

/** The users a test seeds, cohort after cohort, every date relative to `now`, so what is stale is known by construction. */
export function buildUsers(now: Date, cohorts: readonly Cohort[], fields: PresenceFields = DEFAULT_PRESENCE_FIELDS): Document[] {
  const users: Document[] = [];
  for (const cohort of cohorts) {
    for (let n = 0; n < cohort.count; n++) {
      const index = users.length;
      const user: Document = { _id: cohort.id ? cohort.id(n, index) : new ObjectId() };
      if (cohort.name) user.name = cohort.name(n, index);
      if (cohort.online) user[fields.online] = cohort.online(n);
      if (cohort.minutesAgo) user[fields.lastSeen] = new Date(now.getTime() - cohort.minutesAgo(n) * MINUTE);
      users.push({ ...user, ...cohort.extra?.(n) });
    }
  }
  return users;
}
