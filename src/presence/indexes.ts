import { MongoServerError, type Collection, type Document } from 'mongodb';
import type { IndexSpec } from '../engine/task.ts';
import type { PresenceModel } from './model.ts';

/** An index the presence queries need, as an index task declares it. */
export interface PresenceIndexSpec extends IndexSpec {
  key: Record<string, 1>;
  /** Why it is recommended, in the operator's words. */
  serves: string;
}

export interface PresenceIndexHealth {
  collectionExists: boolean;
  /** Each recommended index with the existing index that serves it, if any. */
  indexes: { spec: PresenceIndexSpec; servedBy?: string }[];
  missing: PresenceIndexSpec[];
}

/**
 * Online-then-last-activity: `status`, `cleanup` and `stale` all select on the
 * online value and `stale` ranges over last activity, so one compound index
 * serves them all. No partial or TTL index: FerretDB refuses them (ENGINES.md).
 */
export function recommendedPresenceIndexes(model: PresenceModel): PresenceIndexSpec[] {
  const online = model.online.field;
  const lastSeen = model.lastSeenField;
  return [
    {
      // MongoDB's own name for this key: an index someone already created by hand is recognised, not duplicated.
      name: `${online}_1_${lastSeen}_1`,
      key: { [online]: 1, [lastSeen]: 1 },
      serves: 'online users (status, cleanup) and stale users (stale) without a collection scan',
    },
  ];
}

/**
 * An existing index serves a recommendation when its key starts with the same
 * fields in the same order (directions do not matter for these queries), and
 * it is neither partial nor hidden, which would leave some queries unserved.
 */
function serves(index: Document, spec: PresenceIndexSpec): boolean {
  if (index.partialFilterExpression !== undefined || index.hidden === true) return false;
  const fields = Object.keys(index.key as Document);
  const wanted = Object.keys(spec.key);
  return wanted.every((field, position) => fields[position] === field);
}

export async function validatePresenceIndexes(collection: Collection, model: PresenceModel): Promise<PresenceIndexHealth> {
  const recommended = recommendedPresenceIndexes(model);
  let existing: Document[];
  try {
    existing = await collection.listIndexes().toArray();
  } catch (error) {
    // NamespaceNotFound: no collection, so no index either.
    if (error instanceof MongoServerError && error.code === 26) {
      return { collectionExists: false, indexes: recommended.map((spec) => ({ spec })), missing: recommended };
    }
    throw error;
  }
  const indexes = recommended.map((spec) => ({ spec, servedBy: existing.find((index) => serves(index, spec))?.name as string | undefined }));
  return { collectionExists: true, indexes, missing: indexes.filter((entry) => entry.servedBy === undefined).map((entry) => entry.spec) };
}

/** `{isOnline: 1, lastSeen: 1}` as an operator would type it. */
export function indexKeyText(spec: PresenceIndexSpec): string {
  return `{${Object.entries(spec.key)
    .map(([field, direction]) => `${field}: ${direction}`)
    .join(', ')}}`;
}
