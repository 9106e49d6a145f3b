import type { Db, Document } from 'mongodb';
import { UsageError } from '../engine/errors.ts';
import type { PresenceModel } from './model.ts';

export async function collectionExists(db: Db, name: string): Promise<boolean> {
  // authorizedCollections: a user granted only find/update on the collection (no listCollections action) still sees it.
  const found = await db.listCollections({ name }, { nameOnly: true, authorizedCollections: true }).toArray();
  return found.some((collection) => collection.name === name);
}

/**
 * Refuses a target that cannot be what the operator meant: a missing
 * collection, or a configured field that no document has (a typo in the
 * configuration would otherwise plan nothing and look like success).
 * Cheap enough for every plan: no count, at most one document read per field.
 */
export async function checkPresenceTarget(db: Db, model: PresenceModel, fields: readonly string[]): Promise<void> {
  const collection = db.collection(model.collection);
  const oneWith = (filter: Document) => collection.findOne(filter, { projection: { _id: 1 } });
  // In parallel: the plan should cost little more than its own count and sample.
  const [exists, any, ...withField] = await Promise.all([
    collectionExists(db, model.collection),
    oneWith({}),
    ...fields.map((field) => oneWith({ [field]: { $exists: true } })),
  ]);
  if (!exists) {
    throw new UsageError(
      `collection "${model.collection}" does not exist in database "${db.databaseName}" (check the collection setting)`,
    );
  }
  if (any === null) return;
  const missing = fields.find((_, index) => withField[index] === null);
  if (missing !== undefined) {
    const setting = missing === model.online.field ? 'onlineField' : 'lastSeenField';
    throw new UsageError(`no document in "${model.collection}" has the field "${missing}" (check the ${setting} setting)`);
  }
}
