import type { Document, Filter } from 'mongodb';
import { parentsOf, parentsWritable } from '../engine/paths.ts';
import { offlineValueOf, type PresenceModel } from './model.ts';
import { malformedParents, onlineFilter, wellFormedParents } from './queries.ts';

/**
 * Filters for `status` that the presence index `{online: 1, lastSeen: 1}`
 * bounds, so a figure costs what it counts, never the collection. The write
 * filters' `$not: {$type: 'array'}` guards cannot be answered from index keys:
 * here they only ever filter documents the bounds already chose.
 *
 * Online kept in a sub-document (`presence.online`): a document whose
 * sub-document is an array, null or text is malformed, whatever the query finds
 * through it. The offline, no-presence and null figures require the parents to
 * be sub-documents (or absent), and `malformedParentsFilter` counts the rest
 * under the same keys, so the figures still add up to the users.
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
  return { [model.online.field]: { $eq: offlineValueOf(model), $nin: onlineValues(model) }, ...wellFormedParents([model.online.field]) };
}

/** No online field at all: the index's null key, each document fetched to tell a missing field from a null one. */
export function noPresenceFilter(model: PresenceModel): Filter<Document> {
  return { [model.online.field]: { $exists: false }, ...wellFormedParents([model.online.field]) };
}

/** An online field holding null: malformed, found under the same null key. */
export function nullOnlineValueFilter(model: PresenceModel): Filter<Document> {
  const field = model.online.field;
  return { $and: [{ [field]: null }, { [field]: { $exists: true } }, ...parentsWritable([field])] };
}

/**
 * Online in a sub-document that is no sub-document (an array, null, text),
 * holding no online value: under the offline and null keys, disjoint from the
 * figures above (an online value through an array is in `malformedOnlineFilter`,
 * an unknown one in `unknownOnlineValueFilter`). Undefined for a top-level field.
 */
export function malformedParentsFilter(model: PresenceModel): Filter<Document> | undefined {
  const field = model.online.field;
  if (parentsOf(field).length === 0) return undefined;
  return { $and: [malformedParents([field]), { [field]: { $in: [offlineValueOf(model), null], $nin: onlineValues(model) } }] };
}
