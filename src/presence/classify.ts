import type { Document } from 'mongodb';
import type { PresenceModel } from './model.ts';

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
  if (!Object.hasOwn(user, online.field)) return { state: 'without-presence', problems: [] };
  const problems: string[] = [];
  const value: unknown = user[online.field];
  let state: 'online' | 'offline' | undefined;
  if (online.kind === 'boolean') {
    if (typeof value === 'boolean') state = value ? 'online' : 'offline';
    else problems.push(`${online.field} is ${typeName(value)}`);
  } else if (typeof value !== 'string') {
    problems.push(`${online.field} is ${typeName(value)}`);
  } else if (value === online.offlineValue) {
    state = 'offline';
  } else if (online.onlineValues.includes(value)) {
    state = 'online';
  } else {
    problems.push(`${online.field} has the unknown value ${JSON.stringify(value.slice(0, 40))}`);
  }
  const activity: unknown = user[model.lastSeenField];
  if (activity !== undefined && activity !== null && !(activity instanceof Date)) {
    problems.push(`${model.lastSeenField} is ${typeName(activity)}`);
  }
  if (problems.length > 0 || state === undefined) return { state: 'malformed', problems };
  return { state, problems };
}
