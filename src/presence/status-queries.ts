import type { Document, Filter } from 'mongodb';
import { offlineValueOf, type PresenceModel } from './model.ts';
import { onlineFilter } from './queries.ts';

/**
 * Filters for `status` that the presence index `{online: 1, lastSeen: 1}`
 * bounds, so a figure costs what it counts, never the collection. The write
 * filters' `$not: {$type: 'array'}` guards cannot be answered from index keys:
 * here they only ever filter documents the bounds already chose.
 */

function onlineValues(model: PresenceModel): (boolean | string)[] {
  return model.online.kind === 'boolean' ? [true] : [...model.online.onlineValues];
}

/** Holding an online value but not well-formed online presence (an array, a wrong activity): bounded by the online values. */
export function malformedOnlineFilter(model: PresenceModel): Filter<Document> {
  return { $and: [{ [model.online.field]: { $in: onlineValues(model) } }, { $nor: [onlineFilter(model)] }] };
}

/**
 * An online field holding no known value (a string where a boolean belongs, an
 * unknown status, an object): the index bounds are the gaps between the known
 * values, so this costs the malformed documents only. Disjoint from the above.
 */
export function unknownOnlineValueFilter(model: PresenceModel): Filter<Document> {
  return { [model.online.field]: { $nin: [...onlineValues(model), offlineValueOf(model), null] } };
}

/**
 * The offline value and no online value, whatever the activity: a key range of
 * the presence index (on MongoDB a count of index keys, no document read).
 */
export function offlineValueFilter(model: PresenceModel): Filter<Document> {
  return { [model.online.field]: { $eq: offlineValueOf(model), $nin: onlineValues(model) } };
}

/** No online field at all: the index's null key, each document fetched to tell a missing field from a null one. */
export function noPresenceFilter(model: PresenceModel): Filter<Document> {
  return { [model.online.field]: { $exists: false } };
}

/** An online field holding null: malformed, found under the same null key. */
export function nullOnlineValueFilter(model: PresenceModel): Filter<Document> {
  return { $and: [{ [model.online.field]: null }, { [model.online.field]: { $exists: true } }] };
}
