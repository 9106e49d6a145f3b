import type { Db } from 'mongodb';
import { UsageError } from '../engine/errors.ts';
import type { PresenceModel } from './model.ts';
import { malformedFilter } from './queries.ts';

export interface PresenceTarget {
  documents: number;
  /** Documents with presence fields of the wrong type: reported, never written. */
  malformed: number;
}

export async function collectionExists(db: Db, name: string): Promise<boolean> {
  const found = await db.listCollections({ name }, { nameOnly: true }).toArray();
  return found.some((collection) => collection.name === name);
}

/**
 * Refuses a target that cannot be what the operator meant: a missing
 * collection, or a configured field that no document has (a typo in the
 * configuration would otherwise plan nothing and look like success).
 * Cheap enough for every plan: no count, at most one document read per field.
 */
export async function checkPresenceTarget(db: Db, model: PresenceModel, fields: readonly string[]): Promise<void> {
  if (!(await collectionExists(db, model.collection))) {
    throw new UsageError(
      `collection "${model.collection}" does not exist in database "${db.databaseName}" (check the collection setting)`,
    );
  }
  const collection = db.collection(model.collection);
  if ((await collection.findOne({}, { projection: { _id: 1 } })) === null) return;
  for (const field of fields) {
    if ((await collection.findOne({ [field]: { $exists: true } }, { projection: { _id: 1 } })) === null) {
      const setting = field === model.online.field ? 'onlineField' : 'lastSeenField';
      throw new UsageError(
        `no document in "${model.collection}" has the field "${field}" (check the ${setting} setting)`,
      );
    }
  }
}

/** The check, then how many documents there are and how many are malformed: for `status`, which reports them. */
export async function countPresenceTarget(db: Db, model: PresenceModel, fields: readonly string[]): Promise<PresenceTarget> {
  await checkPresenceTarget(db, model, fields);
  const collection = db.collection(model.collection);
  const documents = await collection.countDocuments({});
  if (documents === 0) return { documents, malformed: 0 };
  return { documents, malformed: await collection.countDocuments(malformedFilter(model)) };
}
