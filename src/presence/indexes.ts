import { EJSON } from 'bson';
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
  /**
   * Each recommended index with the existing index that serves it, if any;
   * else, when an index already holds its name but cannot serve, why not.
   */
  indexes: { spec: PresenceIndexSpec; servedBy?: string; conflict?: string }[];
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
 * Why an existing index cannot serve a recommendation, or nothing when it can:
 * its key must start with the same fields in the same order (directions do not
 * matter for these queries), and it must hold every document under the
 * default collation. A partial or sparse index leaves out the users the status
 * counts look for (no presence field is the null key), a hidden one is never
 * used by the planner.
 */
function whyNotServing(index: Document, spec: PresenceIndexSpec): string | undefined {
  const fields = Object.keys(index.key as Document);
  const wanted = Object.keys(spec.key);
  if (!wanted.every((field, position) => fields[position] === field)) return `its key is ${EJSON.stringify(index.key)}`;
  if (index.partialFilterExpression !== undefined) return `it is partial (partialFilterExpression ${EJSON.stringify(index.partialFilterExpression)})`;
  if (index.hidden === true) return 'it is hidden';
  if (index.sparse === true) return 'it is sparse';
  if (index.collation !== undefined && index.collation.locale !== 'simple') return `it has the collation ${EJSON.stringify(index.collation)}`;
  return undefined;
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
  const indexes = recommended.map((spec) => {
    const servedBy = existing.find((index) => whyNotServing(index, spec) === undefined)?.name as string | undefined;
    if (servedBy !== undefined) return { spec, servedBy };
    // Its name taken by an index that cannot serve: creating the recommended one would be refused, or skipped as present.
    const holder = existing.find((index) => index.name === spec.name);
    return holder === undefined ? { spec } : { spec, conflict: `index ${spec.name} exists but ${whyNotServing(holder, spec)!}` };
  });
  return { collectionExists: true, indexes, missing: indexes.filter((entry) => entry.servedBy === undefined).map((entry) => entry.spec) };
}

/** `{isOnline: 1, lastSeen: 1}` as an operator would type it. */
export function indexKeyText(spec: PresenceIndexSpec): string {
  return `{${Object.entries(spec.key)
    .map(([field, direction]) => `${field}: ${direction}`)
    .join(', ')}}`;
}
