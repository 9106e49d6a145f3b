import { EJSON } from 'bson';
import { type Document } from 'mongodb';
import { TaskPlanError } from './errors.ts';
import type { FieldChange } from './task.ts';

/**
 * One document of a backup: its `_id`, the pre-image of the fields the task
 * reads or writes, and the change the run intends. The backup is the work list.
 */
export interface BackupEntry {
  _id: unknown;
  before: Document;
  /** Fields of the pre-image that did not exist. */
  absent: string[];
  set: Document;
  unset: string[];
  /**
   * The targeting fields' values (e.g. a shard key), read with the pre-image
   * and keyed by path: every filter on this document carries them, so a write
   * goes to the one shard that holds it. Never written. Absent from backups
   * made before targeting existed, whose filters hold `_id` alone.
   */
  targeting?: Document;
}

export function toBackupEntry(
  document: Document,
  fields: readonly string[],
  change: FieldChange,
  targetingFields: readonly string[] = [],
): BackupEntry {
  const before: Document = {};
  const absent: string[] = [];
  for (const field of fields) {
    if (Object.hasOwn(document, field)) before[field] = document[field];
    else absent.push(field);
  }
  const entry: BackupEntry = { _id: document._id, before, absent, set: change.set ?? {}, unset: change.unset ?? [] };
  const targeting = targetingValues(document, targetingFields);
  return targeting === undefined ? entry : { ...entry, targeting };
}

/**
 * The values at the targeting paths; a missing one is null, which is how a
 * sharded cluster routes a document without that field. `_id` is left out:
 * every filter already holds it.
 */
function targetingValues(document: Document, paths: readonly string[]): Document | undefined {
  const values: Document = {};
  for (const path of paths) {
    if (path !== '_id') values[path] = valueAt(document, path, document._id);
  }
  return Object.keys(values).length === 0 ? undefined : values;
}

function valueAt(document: Document, path: string, id: unknown): unknown {
  let value: unknown = document;
  for (const segment of path.split('.')) {
    // Equality through an array matches any element: it could not pin the document, and no shard key may hold one.
    if (Array.isArray(value)) {
      throw new TaskPlanError(`document ${EJSON.stringify(id)}: targeting field "${path}" runs through an array, which no shard key can`);
    }
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, segment)) return null;
    value = (value as Document)[segment];
  }
  if (Array.isArray(value)) {
    throw new TaskPlanError(`document ${EJSON.stringify(id)}: targeting field "${path}" holds an array, which no shard key can`);
  }
  return value;
}

/** The fields' state after the change: the pre-image with the change applied. */
export function afterImage(entry: BackupEntry): { values: Document; absent: string[] } {
  const values: Document = { ...entry.before, ...entry.set };
  for (const field of entry.unset) delete values[field];
  const absent = [...new Set([...entry.absent.filter((f) => !(f in entry.set)), ...entry.unset])];
  return { values, absent };
}

/**
 * A filter on `_id` (and the targeting values, so it reaches one shard) that
 * matches only while every field holds the given state.
 */
export function compareAndSetFilter(id: unknown, values: Document, absent: readonly string[], targeting?: Document): Document {
  const filter = targetedFilter(id, targeting);
  for (const [field, value] of Object.entries(values)) {
    // `{field: null}` would also match a missing field.
    filter[field] = value === null ? { $type: 'null' } : { $eq: value };
  }
  for (const field of absent) filter[field] = { $exists: false };
  return filter;
}

/** `_id` and the targeting values: one document, found on the one shard that holds it. */
export function targetedFilter(id: unknown, targeting?: Document): Document {
  const filter: Document = { _id: id };
  // `$eq`, not a bare value: a stored value that looks like an operator stays a value. `$eq: null` matches a missing field too.
  for (const [path, value] of Object.entries(targeting ?? {})) filter[path] = { $eq: value };
  return filter;
}

export function updateFor(set: Document, unset: readonly string[]): Document {
  const update: Document = {};
  if (Object.keys(set).length > 0) update.$set = set;
  if (unset.length > 0) update.$unset = Object.fromEntries(unset.map((field) => [field, '']));
  return update;
}

/** Whether a document's fields hold exactly this state (types included). */
export function holdsState(document: Document, values: Document, absent: readonly string[]): boolean {
  for (const [field, value] of Object.entries(values)) {
    if (!Object.hasOwn(document, field) || !sameValue(document[field], value)) return false;
  }
  return absent.every((field) => !Object.hasOwn(document, field));
}

export function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

/** Canonical EJSON keeps types apart (an Int32 1 is not a Double 1), so equality is exact. */
export function canonical(value: unknown): string {
  return EJSON.stringify({ v: value }, { relaxed: false });
}

/** `_id` and the paths; a path inside another one listed is left to it (MongoDB refuses a projection with both). */
export function projectionOf(fields: readonly string[]): Document {
  const covered = (path: string) => path === '_id' || fields.some((other) => other !== path && path.startsWith(`${other}.`));
  return Object.fromEntries([['_id', 1], ...[...new Set(fields)].filter((field) => !covered(field)).map((field) => [field, 1])]);
}
