import { EJSON } from 'bson';
import type { Db, Document } from 'mongodb';

/** Every document of a collection as exact canonical EJSON, by `_id`: equal strings, identical documents. */
export async function snapshot(db: Db, collection: string): Promise<Map<string, string>> {
  const documents = await db.collection(collection).find({}, { promoteValues: false }).toArray();
  return new Map(documents.map((document) => [String(document._id), EJSON.stringify(document, { relaxed: false })]));
}

/** The `_id`s whose documents differ between two snapshots. */
export function changedIds(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...before.keys()].filter((id) => before.get(id) !== after.get(id)).sort();
}

export function parse(text: string): Document {
  return EJSON.parse(text, { relaxed: false }) as Document;
}
