import { EJSON } from 'bson';
import { type Document } from 'mongodb';
import { TaskPlanError } from './errors.ts';
import { parentsOf, parentsWritable, readPath } from './paths.ts';
import type { FieldChange } from './task.ts';

/**
 * One document of a backup: its `_id`, the pre-image of the fields the task
 * reads or writes, and the change the run intends. The backup is the work list.
 * Fields are keyed by path (`email`, `profile.mail`): a backup made before
 * paths existed holds top-level names, which are paths of one segment.
 */
export interface BackupEntry {
  _id: unknown;
  before: Document;
  /** Paths of the pre-image that did not exist (absent is not null). */
  absent: string[];
  set: Document;
  unset: string[];
  /**
   * Parents of the set paths that did not exist, innermost first: the run's
   * `$set` creates them, and a restore removes those it finds empty. Absent
   * when there were none.
   */
  createdParents?: string[];
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
    const read = readPath(document, field);
    if (read.state === 'value') before[field] = read.value;
    else if (read.state === 'absent') absent.push(field);
    else throw new TaskPlanError(`document ${EJSON.stringify(document._id)}: "${read.parent}" is not a sub-document, so "${field}" cannot be backed up`);
  }
  const set = change.set ?? {};
  const entry: BackupEntry = { _id: document._id, before, absent, set, unset: change.unset ?? [] };
  const createdParents = [...new Set(Object.keys(set).flatMap(parentsOf))]
    .filter((parent) => readPath(document, parent).state === 'absent')
    .sort((a, b) => b.split('.').length - a.split('.').length);
  const targeting = targetingValues(document, targetingFields);
  return {
    ...entry,
    ...(createdParents.length === 0 ? {} : { createdParents }),
    ...(targeting === undefined ? {} : { targeting }),
  };
}

/**
 * The values at the targeting paths; a missing one is null, which is how a
 * sharded cluster routes a document without that field. `_id` is left out:
 * every filter already holds it.
 */
export function targetingValues(document: Document, paths: readonly string[]): Document | undefined {
  const values: Document = {};
  for (const path of paths) {
    if (path !== '_id') values[path] = valueAt(document, path, document._id);
  }
  return Object.keys(values).length === 0 ? undefined : values;
}

function valueAt(document: Document, path: string, id: unknown): unknown {
  const read = readPath(document, path);
  // Equality through an array matches any element: it could not pin the document, and no shard key may hold one.
  if (read.state === 'blocked' && Array.isArray(read.holds)) {
    throw new TaskPlanError(`document ${EJSON.stringify(id)}: targeting field "${path}" runs through an array, which no shard key can`);
  }
  if (read.state !== 'value') return null;
  if (Array.isArray(read.value)) {
    throw new TaskPlanError(`document ${EJSON.stringify(id)}: targeting field "${path}" holds an array, which no shard key can`);
  }
  return read.value;
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
 * matches only while every path holds the given state, and every parent of a
 * path is still a sub-document or absent (a query follows `a.b` into an array
 * `a`; the update could not write there).
 */
export function compareAndSetFilter(id: unknown, values: Document, absent: readonly string[], targeting?: Document): Document {
  const filter = targetedFilter(id, targeting);
  for (const [path, value] of Object.entries(values)) filter[path] = valueCondition(value);
  for (const path of absent) filter[path] = { $exists: false };
  const parents = parentsWritable([...Object.keys(values), ...absent]);
  if (parents.length > 0) filter.$and = parents;
  return filter;
}

/**
 * Exactly this value. `{path: null}` would also match a missing path, and an
 * equality also matches an array holding the value: a value that is not an
 * array must not have become one.
 */
export function valueCondition(value: unknown): Document {
  if (Array.isArray(value)) return { $eq: value };
  return value === null ? { $type: 'null', ...NOT_ARRAY } : { $eq: value, ...NOT_ARRAY };
}

const NOT_ARRAY = { $not: { $type: 'array' } } as const;

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

/** Whether a document's paths hold exactly this state (types included); a path blocked by a non-document holds nothing. */
export function holdsState(document: Document, values: Document, absent: readonly string[]): boolean {
  for (const [path, value] of Object.entries(values)) {
    const read = readPath(document, path);
    if (read.state !== 'value' || !sameValue(read.value, value)) return false;
  }
  return absent.every((path) => readPath(document, path).state === 'absent');
}

export function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

/** Canonical EJSON keeps types apart (an Int32 1 is not a Double 1), so equality is exact. */
export function canonical(value: unknown): string {
  return EJSON.stringify({ v: value }, { relaxed: false });
}

/**
 * `_id` and the top-level field holding each path: a projection of `a.b` alone
 * drops an `a` that is not a sub-document, which would then read as absent.
 */
export function projectionOf(fields: readonly string[]): Document {
  const roots = new Set(fields.map((path) => path.split('.')[0]!));
  roots.delete('_id');
  return Object.fromEntries([['_id', 1], ...[...roots].map((root) => [root, 1])]);
}
