import type { Db, Document, Filter } from 'mongodb';
import { validatePresenceIndexes, type PresenceIndexHealth } from './indexes.ts';
import type { PresenceModel } from './model.ts';
import {
  offlineFilter,
  onlineFilter,
  onlineWithoutActivityFilter,
  staleCutoff,
  staleFilter,
  withoutPresenceFilter,
} from './queries.ts';
import { countPresenceTarget } from './target.ts';

/** What `status` reports. The counts of users add up: total = online + offline + withoutPresence + malformed. */
export interface PresenceFigures {
  database: string;
  collection: string;
  measuredAt: Date;
  staleMinutes: number;
  staleCutoff: Date;
  total: number;
  online: number;
  offline: number;
  /** Online and last active before the cut-off. */
  stale: number;
  /** Online with no activity time: neither stale nor active. */
  onlineWithoutActivity: number;
  /** No online field at all (e.g. never connected). */
  withoutPresence: number;
  /** Presence fields of the wrong type: left alone by every write. */
  malformed: number;
  /** The oldest last activity among online users, null when no online user has one. */
  oldestOnlineActivity: Date | null;
  indexes: PresenceIndexHealth;
  /** How long each presence query took, milliseconds (for monitoring). */
  latencyMs: Record<string, number>;
}

async function timed<T>(latency: Record<string, number>, name: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  latency[name] = Math.round((performance.now() - started) * 10) / 10;
  return result;
}

/**
 * Counts one query at a time, so each latency is the query's own. Only
 * `countDocuments` and a sorted `find`: every engine we test on has them
 * (FerretDB's `$group` lacks `$min`, ENGINES.md).
 */
export async function presenceFigures(db: Db, model: PresenceModel, staleMinutes: number, now: Date): Promise<PresenceFigures> {
  const latencyMs: Record<string, number> = {};
  await timed(latencyMs, 'ping', () => db.command({ ping: 1 }));
  // Refuses a missing collection or a field no document has; counts the malformed on the way.
  const target = await timed(latencyMs, 'check_target', () =>
    countPresenceTarget(db, model, [model.online.field, model.lastSeenField]),
  );
  const users = db.collection(model.collection);
  const count = (name: string, filter: Filter<Document>) => timed(latencyMs, name, () => users.countDocuments(filter));
  const cutoff = staleCutoff(now, staleMinutes);
  const online = await count('count_online', onlineFilter(model));
  const offline = await count('count_offline', offlineFilter(model));
  const stale = await count('count_stale', staleFilter(model, cutoff));
  const onlineWithoutActivity = await count('count_online_without_activity', onlineWithoutActivityFilter(model));
  const withoutPresence = await count('count_without_presence', withoutPresenceFilter(model));
  const oldest = await timed(latencyMs, 'oldest_online_activity', () =>
    users
      .find({ $and: [onlineFilter(model), { [model.lastSeenField]: { $type: 'date' } }] })
      .project({ [model.lastSeenField]: 1 })
      .sort({ [model.lastSeenField]: 1 })
      .limit(1)
      .next(),
  );
  const indexes = await timed(latencyMs, 'list_indexes', () => validatePresenceIndexes(users, model));
  return {
    database: db.databaseName,
    collection: model.collection,
    measuredAt: now,
    staleMinutes,
    staleCutoff: cutoff,
    total: target.documents,
    online,
    offline,
    stale,
    onlineWithoutActivity,
    withoutPresence,
    malformed: target.malformed,
    oldestOnlineActivity: (oldest?.[model.lastSeenField] as Date | undefined) ?? null,
    indexes,
    latencyMs,
  };
}
