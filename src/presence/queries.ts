import type { Document, Filter } from 'mongodb';
import { parentsWritable } from '../engine/paths.ts';
import { presenceFields, type PresenceModel } from './model.ts';

/**
 * Filters that match only well-formed presence: `{isOnline: true}` alone would
 * also match `[true]`, and a date comparison must never reach a string or an
 * array. A document whose presence fields have the wrong type matches none of
 * the write filters, so it is reported, never written.
 */
const NOT_ARRAY = { $not: { $type: 'array' } } as const;

function onlineValueCondition(model: PresenceModel): Document {
  const { online } = model;
  return online.kind === 'boolean' ? { $eq: true, ...NOT_ARRAY } : { $in: [...online.onlineValues], ...NOT_ARRAY };
}

function offlineValueCondition(model: PresenceModel): Document {
  const { online } = model;
  return online.kind === 'boolean' ? { $eq: false, ...NOT_ARRAY } : { $eq: online.offlineValue, ...NOT_ARRAY };
}

/**
 * Presence in a sub-document: queries look through arrays (`{'presence.online':
 * true}` matches `presence: [{online: true}]`) but updates cannot go through
 * one, nor through null or text. So every parent of the paths must be a
 * sub-document (or absent); anything else is malformed. To spread into a
 * filter: no condition at all for top-level fields.
 */
export function wellFormedParents(paths: readonly string[]): Filter<Document> {
  const conditions = parentsWritable(paths);
  return conditions.length === 0 ? {} : { $and: conditions };
}

/** Some parent of the paths is there but is no sub-document (an array, null, text…). */
export function malformedParents(paths: readonly string[]): Filter<Document> {
  return { $nor: [wellFormedParents(paths)] };
}

/** Last activity is a date, null, or not recorded yet: anything else is malformed. */
function wellFormedActivity(model: PresenceModel): Filter<Document> {
  const field = model.lastSeenField;
  return { $or: [{ [field]: { $type: ['date', 'null'], ...NOT_ARRAY } }, { [field]: { $exists: false } }] };
}

/** Online, with well-formed presence: who `cleanup` sets offline. */
export function onlineFilter(model: PresenceModel): Filter<Document> {
  return { [model.online.field]: onlineValueCondition(model), ...wellFormedActivity(model), ...wellFormedParents(presenceFields(model)) };
}

export function offlineFilter(model: PresenceModel): Filter<Document> {
  return { [model.online.field]: offlineValueCondition(model), ...wellFormedActivity(model), ...wellFormedParents(presenceFields(model)) };
}

/** Online and last active strictly before `cutoff`: who `stale` sets offline. */
export function staleFilter(model: PresenceModel, cutoff: Date): Filter<Document> {
  return {
    [model.online.field]: onlineValueCondition(model),
    [model.lastSeenField]: { $lt: cutoff, ...NOT_ARRAY },
    ...wellFormedParents(presenceFields(model)),
  };
}

/** Online with no activity time at all: neither stale nor active, reported by `status`. */
export function onlineWithoutActivityFilter(model: PresenceModel): Filter<Document> {
  const field = model.lastSeenField;
  return {
    [model.online.field]: onlineValueCondition(model),
    $or: [{ [field]: { $type: 'null', ...NOT_ARRAY } }, { [field]: { $exists: false } }],
    ...wellFormedParents(presenceFields(model)),
  };
}

/** Users last active before this are stale: `minutes` before the run's fixed clock. */
export function staleCutoff(now: Date, minutes: number): Date {
  return new Date(now.getTime() - minutes * 60_000);
}

