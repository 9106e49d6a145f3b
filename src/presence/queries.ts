import type { Document, Filter } from 'mongodb';
import { presenceParents, type PresenceModel } from './model.ts';

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
 * one, nor through null or text. So every parent must be a sub-document (or
 * absent, when the fields under it may be); anything else is malformed.
 */
function subDocumentOrAbsent(parent: string): Filter<Document> {
  return { $or: [{ [parent]: { $exists: false } }, { [parent]: { $type: 'object', ...NOT_ARRAY } }] };
}

/** Every one of `parents` a sub-document or absent, one condition each. */
export function wellFormedParentConditions(parents: readonly string[]): Filter<Document>[] {
  return parents.map(subDocumentOrAbsent);
}

/** The same, as a filter to spread into another: no condition at all for top-level fields. */
export function wellFormedParents(parents: readonly string[]): Filter<Document> {
  return parents.length === 0 ? {} : { $and: wellFormedParentConditions(parents) };
}

/** Some of `parents` is there but is no sub-document (an array, null, text…). */
export function malformedParents(parents: readonly string[]): Filter<Document> {
  return { $nor: [wellFormedParents(parents)] };
}

/** Last activity is a date, null, or not recorded yet: anything else is malformed. */
function wellFormedActivity(model: PresenceModel): Filter<Document> {
  const field = model.lastSeenField;
  return { $or: [{ [field]: { $type: ['date', 'null'], ...NOT_ARRAY } }, { [field]: { $exists: false } }] };
}

/** Online, with well-formed presence: who `cleanup` sets offline. */
export function onlineFilter(model: PresenceModel): Filter<Document> {
  return { [model.online.field]: onlineValueCondition(model), ...wellFormedActivity(model), ...wellFormedParents(presenceParents(model)) };
}

export function offlineFilter(model: PresenceModel): Filter<Document> {
  return { [model.online.field]: offlineValueCondition(model), ...wellFormedActivity(model), ...wellFormedParents(presenceParents(model)) };
}

/** Online and last active strictly before `cutoff`: who `stale` sets offline. */
export function staleFilter(model: PresenceModel, cutoff: Date): Filter<Document> {
  return {
    [model.online.field]: onlineValueCondition(model),
    [model.lastSeenField]: { $lt: cutoff, ...NOT_ARRAY },
    ...wellFormedParents(presenceParents(model)),
  };
}

/** Online with no activity time at all: neither stale nor active, reported by `status`. */
export function onlineWithoutActivityFilter(model: PresenceModel): Filter<Document> {
  const field = model.lastSeenField;
  return {
    [model.online.field]: onlineValueCondition(model),
    $or: [{ [field]: { $type: 'null', ...NOT_ARRAY } }, { [field]: { $exists: false } }],
    ...wellFormedParents(presenceParents(model)),
  };
}

/** Users last active before this are stale: `minutes` before the run's fixed clock. */
export function staleCutoff(now: Date, minutes: number): Date {
  return new Date(now.getTime() - minutes * 60_000);
}

