import type { Document } from 'mongodb';

/**
 * Presence may live in a sub-document (`presence.online`). A setting is a
 * dotted path; these read and build documents along such paths.
 */

/** What a path leads to in a document in hand. */
export type PathValue =
  | { kind: 'value'; value: unknown }
  | { kind: 'absent' }
  /** A parent on the way is there but is no sub-document (null, text, an array): writes cannot go through it. */
  | { kind: 'blocked'; parent: string; value: unknown };

/** The parents of a path, outermost first: `a.b.c` → `a`, `a.b`. None for a top-level field. */
export function parentsOf(path: string): string[] {
  const segments = path.split('.');
  return segments.slice(1).map((_, index) => segments.slice(0, index + 1).join('.'));
}

/** Every parent of the given paths, once, outermost first. */
export function parentsOfAll(paths: readonly string[]): string[] {
  return [...new Set(paths.flatMap(parentsOf))].sort((a, b) => a.split('.').length - b.split('.').length);
}

/** A sub-document a path may go through: an object that is no array, no date and no BSON value. */
function isSubDocument(value: unknown): value is Document {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) return false;
  return (value as { _bsontype?: unknown })._bsontype === undefined;
}

export function valueAtPath(document: Document, path: string): PathValue {
  let current: unknown = document;
  const segments = path.split('.');
  for (const [index, segment] of segments.entries()) {
    if (!isSubDocument(current)) return { kind: 'blocked', parent: segments.slice(0, index).join('.'), value: current };
    if (!Object.hasOwn(current, segment)) return { kind: 'absent' };
    current = current[segment];
  }
  return { kind: 'value', value: current };
}

/** The value at `path`, undefined when absent or blocked. */
export function readPath(document: Document, path: string): unknown {
  const found = valueAtPath(document, path);
  return found.kind === 'value' ? found.value : undefined;
}

/**
 * Reads the whole top-level field of each path: a dotted projection would drop
 * a parent that is no sub-document (`presence: null`), hiding what is wrong.
 */
export function topLevelProjection(paths: readonly string[]): Record<string, 1> {
  return Object.fromEntries(paths.map((path) => [path.split('.')[0]!, 1] as const));
}

/** The leaves of a document by their dotted paths: the inverse of `nestedDocument` for documents of scalar leaves. */
export function leafPaths(document: Document, prefix = ''): Record<string, unknown> {
  const leaves: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(document)) {
    if (isSubDocument(value)) Object.assign(leaves, leafPaths(value, `${prefix}${key}.`));
    else leaves[`${prefix}${key}`] = value;
  }
  return leaves;
}

/** `{"presence.online": true}` as the document `{presence: {online: true}}`: what an insert takes (keys hold no dots). */
export function nestedDocument(values: Readonly<Record<string, unknown>>): Document {
  const document: Document = {};
  for (const [path, value] of Object.entries(values)) {
    const segments = path.split('.');
    let parent = document;
    for (const segment of segments.slice(0, -1)) {
      if (!isSubDocument(parent[segment])) parent[segment] = {};
      parent = parent[segment] as Document;
    }
    parent[segments.at(-1)!] = value;
  }
  return document;
}
