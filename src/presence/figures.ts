import type { Db, Document, Filter } from 'mongodb';
import { Deadline, type Measured, type TimeLimit } from './deadline.ts';
import { PrivilegeError, privilegeErrorOf } from '../engine/privileges.ts';
import { validatePresenceIndexes, type PresenceIndexHealth } from './indexes.ts';
import type { PresenceModel } from './model.ts';
import { valueAt } from '../engine/paths.ts';
import { onlineFilter, onlineWithoutActivityFilter, staleCutoff, staleFilter } from './queries.ts';
import { malformedOnlineFilter, malformedParentsFilter, noPresenceFilter, nullOnlineValueFilter, offlineValueFilter, unknownOnlineValueFilter } from './status-queries.ts';
import { checkPresenceTarget } from './target.ts';

/** A count `status` reports, null when it was not measured within `--max-time` (see `unknown`). */
type Count = number | null;

/**
 * What `status` reports. Every count but `total` is bounded by the presence
 * index, so a scrape costs the online users, not the collection; `total` is
 * the collection's metadata count. When all are known and the metadata is
 * exact, total = online + offline + withoutPresence + malformed.
 */
export interface PresenceFigures {
  database: string;
  collection: string;
  measuredAt: Date;
  staleMinutes: number;
  staleCutoff: Date;
  maxTimeMs: number;
  /** `estimatedDocumentCount`: the collection's metadata, no document read. */
  total: Count;
  online: Count;
  /** The offline value and no online value, whatever the activity. */
  offline: Count;
  /** Online and last active before the cut-off. */
  stale: Count;
  /** Online with no activity time: neither stale nor active. */
  onlineWithoutActivity: Count;
  /** No online field at all (e.g. never connected). */
  withoutPresence: Count;
  /**
   * Left alone by every write: an online value with a wrong activity or in an
   * array, an online field holding null or no known value, and online kept in
   * a sub-document that is none (an array, null, text). An offline user's wrong
   * activity counts as offline here; `presence test` scans for all.
   */
  malformed: Count;
  /** The oldest last activity among online users, null when no online user has one (or unknown, see `unknown`). */
  oldestOnlineActivity: Date | null;
  /** Each figure that is null because it was not measured (in time, or at all: a privilege missing), with why. */
  unknown: Record<string, string>;
  /** Null when the user may not list the collection's indexes: advice, so status goes on without it. */
  indexes: PresenceIndexHealth | null;
  /** How long each presence query took, milliseconds (for monitoring). */
  latencyMs: Record<string, number>;
}

/** The counts of `status`, by figure: each one bounded by the presence index (the explain test holds them to it). */
export function statusCounts(model: PresenceModel, cutoff: Date) {
  const malformedParents = malformedParentsFilter(model);
  return {
    online: onlineFilter(model),
    offline: offlineValueFilter(model),
    stale: staleFilter(model, cutoff),
    onlineWithoutActivity: onlineWithoutActivityFilter(model),
    withoutPresence: noPresenceFilter(model),
    malformedOnline: malformedOnlineFilter(model),
    unknownOnlineValue: unknownOnlineValueFilter(model),
    nullOnlineValue: nullOnlineValueFilter(model),
    /** Only when online is kept in a sub-document. */
    ...(malformedParents === undefined ? {} : { malformedParents }),
  } satisfies Record<string, Filter<Document>>;
}

/** The oldest activity among online users: the first key of the index's online range, read in its order. */
export function oldestOnlineActivityQuery(model: PresenceModel): { filter: Filter<Document>; projection: Document; sort: Record<string, 1> } {
  return {
    filter: { $and: [onlineFilter(model), { [model.lastSeenField]: { $type: 'date' } }] },
    projection: { [model.lastSeenField]: 1 },
    sort: { [model.lastSeenField]: 1 },
  };
}

/**
 * The queries run side by side within one `--max-time` budget, so a slow one
 * makes only its own figure unknown and the whole costs at most the budget.
 */
export async function presenceFigures(db: Db, model: PresenceModel, staleMinutes: number, now: Date, maxTimeMs: number): Promise<PresenceFigures> {
  const latencyMs: Record<string, number> = {};
  const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      latencyMs[name] = Math.round((performance.now() - started) * 10) / 10;
    }
  };
  await timed('ping', () => db.command({ ping: 1 }));
  // Refuses a missing collection or a field no document has: a few single-document reads.
  await timed('check_target', () => checkPresenceTarget(db, model, [model.online.field, model.lastSeenField]));
  const users = db.collection(model.collection);
  const deadline = new Deadline(maxTimeMs);
  const measure = <T>(name: string, read: (limit: TimeLimit) => Promise<T>) => timed(name, () => deadline.measure(read));
  const count = (name: string, filter: Filter<Document>) => measure(name, (limit) => users.countDocuments(filter, limit));
  const cutoff = staleCutoff(now, staleMinutes);
  const counts = statusCounts(model, cutoff);
  const oldestQuery = oldestOnlineActivityQuery(model);
  const noMalformedParents: Measured<number> = { known: true, value: 0 };
  const [total, online, offline, stale, onlineWithoutActivity, withoutPresence, malformedOnline, unknownOnline, nullOnline, malformedParents, oldest, indexes] = await Promise.all([
    measure('estimated_document_count', (limit) => users.estimatedDocumentCount({ maxTimeMS: limit.maxTimeMS })),
    count('count_online', counts.online),
    count('count_offline', counts.offline),
    count('count_stale', counts.stale),
    count('count_online_without_activity', counts.onlineWithoutActivity),
    count('count_without_presence', counts.withoutPresence),
    count('count_malformed_online', counts.malformedOnline),
    count('count_unknown_online_value', counts.unknownOnlineValue),
    count('count_null_online_value', counts.nullOnlineValue),
    counts.malformedParents === undefined ? noMalformedParents : count('count_malformed_parents', counts.malformedParents),
    measure('oldest_online_activity', (limit) =>
      users.find(oldestQuery.filter, limit).project(oldestQuery.projection).sort(oldestQuery.sort).limit(1).next(),
    ),
    timed('list_indexes', () => validatePresenceIndexes(users, model).catch(refusedAsUnknown)),
  ]);
  const unknown: Record<string, string> = {};
  const known = <T>(name: string, figure: Measured<T>): T | null => {
    if (figure.known) return figure.value;
    unknown[name] = figure.reason;
    return null;
  };
  const malformedParts = [malformedOnline, unknownOnline, nullOnline, malformedParents];
  const malformed: Measured<number> =
    malformedParts.find((part) => !part.known) ??
    { known: true, value: malformedParts.reduce((sum, part) => sum + (part.known ? part.value : 0), 0) };
  const oldestDocument = known('oldestOnlineActivity', oldest);
  if (indexes instanceof PrivilegeError) unknown.indexes = indexes.message;
  return {
    database: db.databaseName,
    collection: model.collection,
    measuredAt: now,
    staleMinutes,
    staleCutoff: cutoff,
    maxTimeMs,
    total: known('total', total),
    online: known('online', online),
    offline: known('offline', offline),
    stale: known('stale', stale),
    onlineWithoutActivity: known('onlineWithoutActivity', onlineWithoutActivity),
    withoutPresence: known('withoutPresence', withoutPresence),
    malformed: known('malformed', malformed),
    oldestOnlineActivity: oldestDocument === null ? null : ((valueAt(oldestDocument, model.lastSeenField) as Date | undefined) ?? null),
    unknown,
    indexes: indexes instanceof PrivilegeError ? null : indexes,
    latencyMs,
  };
}

/** A missing privilege makes a figure unknown; any other error stays an error. */
function refusedAsUnknown(error: unknown): PrivilegeError {
  const refused = privilegeErrorOf(error);
  if (refused === undefined) throw error;
  return refused;
}
