import type { Document } from 'mongodb';
import { isSubDocument } from '../engine/paths.ts';

/**
 * Presence may live in a sub-document (`presence.online`): what presence needs
 * beyond the engine's paths (engine/paths.ts: readPath, valueAt) to build such documents.
 */

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
