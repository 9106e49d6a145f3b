import type { Document } from 'mongodb';

/**
 * Field paths: `email`, or `profile.mail` into sub-documents. A query follows a
 * path through arrays (any element matches) but an update does not (code 28),
 * so the runner only ever writes a path whose every parent is a sub-document or
 * absent: anything else makes the document malformed for that path.
 */

/** What is wrong with a path as a task or a setting names it; undefined when it is one the runner can write. */
export function pathProblem(path: string): string | undefined {
  const segments = path.split('.');
  if (segments.some((segment) => segment === '')) return 'has an empty segment (a leading, trailing or doubled ".")';
  if (segments.some((segment) => segment.startsWith('$'))) return 'has a segment starting with "$"';
  if (segments[0] === '_id') return 'is _id or inside it, which the runner never changes';
  return undefined;
}

/** The parents of a path, outermost first: `a.b.c` → `a`, `a.b`. */
export function parentsOf(path: string): string[] {
  const segments = path.split('.');
  return segments.slice(1).map((_, index) => segments.slice(0, index + 1).join('.'));
}

/** Whether `inner` is `outer` or lies inside it. */
export function isWithin(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(`${outer}.`);
}

/** Two distinct paths of the list where one holds the other (`profile` and `profile.mail`), if any. */
export function nestedPair(paths: readonly string[]): [outer: string, inner: string] | undefined {
  for (const outer of paths) {
    const inner = paths.find((path) => path !== outer && isWithin(path, outer));
    if (inner !== undefined) return [outer, inner];
  }
  return undefined;
}

/** A sub-document as the driver returns one: a plain object (BSON values such as dates and ids are class instances). */
export function isSubDocument(value: unknown): value is Document {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** What a document holds at a path: a value, nothing, or a parent that is not a sub-document (the path is blocked). */
export type PathRead =
  | { state: 'value'; value: unknown }
  | { state: 'absent' }
  | { state: 'blocked'; parent: string; holds: unknown };

export function readPath(document: Document, path: string): PathRead {
  let current: unknown = document;
  const segments = path.split('.');
  for (const [index, segment] of segments.entries()) {
    if (index > 0 && !isSubDocument(current)) {
      return { state: 'blocked', parent: segments.slice(0, index).join('.'), holds: current };
    }
    if (!Object.hasOwn(current as Document, segment)) return { state: 'absent' };
    current = (current as Document)[segment];
  }
  return { state: 'value', value: current };
}

/**
 * The value at a path, or undefined when the document holds none there (the
 * path is absent, or runs through something that is not a sub-document): what
 * a task's `change` reads a nested field with.
 */
export function valueAt(document: Document, path: string): unknown {
  const read = readPath(document, path);
  return read.state === 'value' ? read.value : undefined;
}

/** Why a write at this path is impossible in this document ("profile is an array"), or undefined. */
export function blockedPathProblem(document: Document, path: string): string | undefined {
  const read = readPath(document, path);
  if (read.state !== 'blocked') return undefined;
  return `"${read.parent}" is ${kindOf(read.holds)}, so "${path}" cannot be written in it`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${(value as { _bsontype?: string })._bsontype ?? value.constructor?.name ?? 'value'}`;
  return `a ${typeof value}`;
}

/**
 * A query condition that holds only while every parent of the paths is a
 * sub-document or absent: without it, `{'a.b': x}` also matches `a: [{b: x}]`,
 * which the update could then not write.
 */
export function parentsWritable(paths: Iterable<string>): Document[] {
  const parents = new Set<string>();
  for (const path of paths) for (const parent of parentsOf(path)) parents.add(parent);
  return [...parents].map((parent) => ({
    $or: [{ [parent]: { $exists: false } }, { [parent]: { $type: 'object', $not: { $type: 'array' } } }],
  }));
}
