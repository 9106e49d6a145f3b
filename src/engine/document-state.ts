import { EJSON } from 'bson';
import { type Document } from 'mongodb';
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
}

export function toBackupEntry(document: Document, fields: readonly string[], change: FieldChange): BackupEntry {
  const before: Document = {};
  const absent: string[] = [];
  for (const field of fields) {
    if (Object.hasOwn(document, field)) before[field] = document[field];
    else absent.push(field);
  }
  return { _id: document._id, before, absent, set: change.set ?? {}, unset: change.unset ?? [] };
}

/** The fields' state after the change: the pre-image with the change applied. */
export function afterImage(entry: BackupEntry): { values: Document; absent: string[] } {
  const values: Document = { ...entry.before, ...entry.set };
  for (const field of entry.unset) delete values[field];
  const absent = [...new Set([...entry.absent.filter((f) => !(f in entry.set)), ...entry.unset])];
  return { values, absent };
}

/** A filter on `_id` that matches only while every field holds the given state. */
export function compareAndSetFilter(id: unknown, values: Document, absent: readonly string[]): Document {
  const filter: Document = { _id: id };
  for (const [field, value] of Object.entries(values)) {
    // `{field: null}` would also match a missing field.
    filter[field] = value === null ? { $type: 'null' } : { $eq: value };
  }
  for (const field of absent) filter[field] = { $exists: false };
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

export function projectionOf(fields: readonly string[]): Document {
  return Object.fromEntries([['_id', 1], ...fields.map((field) => [field, 1])]);
}
