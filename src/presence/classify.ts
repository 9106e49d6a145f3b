import type { Document } from 'mongodb';
import type { PresenceModel } from './model.ts';
import { readPath, type PathRead } from '../engine/paths.ts';

export type PresenceState = 'online' | 'offline' | 'without-presence' | 'malformed';

export interface ClassifiedUser {
  state: PresenceState;
  /** What is wrong, e.g. `isOnline is text`: empty unless malformed. */
  problems: string[];
}

/** A value's type as an operator reads it. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'string') return 'text';
  if (typeof value === 'number' || typeof value === 'bigint') return 'a number';
  if (typeof value === 'boolean') return 'true/false';
  const bsonType = (value as { _bsontype?: string } | undefined)?._bsontype;
  if (bsonType === 'Int32' || bsonType === 'Double' || bsonType === 'Long' || bsonType === 'Decimal128') return 'a number';
  return bsonType ?? (typeof value === 'object' ? 'an object' : typeof value);
}

/**
 * The same rules as the query filters (queries.ts), for a document in hand:
 * the schema check explains, per document, what the filters leave alone.
 */
export function classifyUser(model: PresenceModel, user: Document): ClassifiedUser {
  const { online } = model;
  const onlineAt = readPath(user, online.field);
  if (onlineAt.state === 'blocked') return { state: 'malformed', problems: [blockedProblem(onlineAt)] };
  if (onlineAt.state === 'absent') return { state: 'without-presence', problems: [] };
  const problems = new Set<string>();
  const { value } = onlineAt;
  let state: 'online' | 'offline' | undefined;
  if (online.kind === 'boolean') {
    if (typeof value === 'boolean') state = value ? 'online' : 'offline';
    else problems.add(`${online.field} is ${typeName(value)}`);
  } else if (typeof value !== 'string') {
    problems.add(`${online.field} is ${typeName(value)}`);
  } else if (value === online.offlineValue) {
    state = 'offline';
  } else if (online.onlineValues.includes(value)) {
    state = 'online';
  } else {
    problems.add(`${online.field} has the unknown value ${JSON.stringify(value.slice(0, 40))}`);
  }
  const activityAt = readPath(user, model.lastSeenField);
  if (activityAt.state === 'blocked') problems.add(blockedProblem(activityAt));
  const activity = activityAt.state === 'value' ? activityAt.value : undefined;
  if (activity !== undefined && activity !== null && !(activity instanceof Date)) {
    problems.add(`${model.lastSeenField} is ${typeName(activity)}`);
  }
  // A companion under a parent that is no sub-document could not be written either.
  for (const field of Object.keys(model.offlineSet)) {
    const companionAt = readPath(user, field);
    if (companionAt.state === 'blocked') problems.add(blockedProblem(companionAt));
  }
  if (problems.size > 0 || state === undefined) return { state: 'malformed', problems: [...problems] };
  return { state, problems: [] };
}

/** `presence is null`: the parent that no write can go through. */
function blockedProblem(blocked: Extract<PathRead, { state: 'blocked' }>): string {
  return `${blocked.parent} is ${typeName(blocked.holds)}`;
}
