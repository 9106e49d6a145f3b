import { EJSON } from 'bson';
import { type Collection, type Document } from 'mongodb';
import { afterImage, holdsState, projectionOf, targetedFilter, type BackupEntry } from './document-state.ts';
import { exactReads } from './plan.ts';
import type { VerifyCounts } from './run-record.ts';

export type TargetState = (entry: BackupEntry) => { values: Document; absent: readonly string[] };

/**
 * Re-reads every backed-up document and counts those now in the target state
 * (after the change for a run, the pre-image for a restore). Read-only, so it
 * also runs after an interruption, to say where the data stands.
 */
export async function verifyBackup(
  collection: Collection,
  fields: readonly string[],
  batches: AsyncIterable<BackupEntry[]>,
  targetState: TargetState,
  onBatch: (counts: VerifyCounts) => void,
): Promise<VerifyCounts> {
  const counts: VerifyCounts = { checked: 0, inTargetState: 0, notInTargetState: 0, changedSince: 0, missing: 0 };
  for await (const batch of batches) {
    const current = await currentDocuments(collection, fields, batch);
    for (const entry of batch) {
      const document = current.get(idKey(entry._id));
      const after = targetState(entry);
      counts.checked++;
      if (document === undefined) counts.missing++;
      else if (holdsState(document, after.values, after.absent)) counts.inTargetState++;
      else {
        counts.notInTargetState++;
        const written = afterImage(entry);
        if (!holdsState(document, entry.before, entry.absent) && !holdsState(document, written.values, written.absent)) counts.changedSince++;
      }
    }
    onBatch(counts);
  }
  return counts;
}

/**
 * The batch's documents as they are now, keyed by `_id`. Where entries carry
 * targeting values, each is looked up with them (one branch of an `$or` per
 * document), so a sharded cluster asks only the shards that hold the batch;
 * a document whose shard key changed since is then not found (missing).
 */
export async function currentDocuments(
  collection: Collection,
  fields: readonly string[],
  batch: readonly BackupEntry[],
): Promise<Map<string, Document>> {
  const filter = batch.some((entry) => entry.targeting !== undefined)
    ? { $or: batch.map((entry) => targetedFilter(entry._id, entry.targeting)) }
    : { _id: { $in: batch.map((entry) => entry._id) } };
  const documents = await collection
    .find(filter as Document, {
      projection: projectionOf(fields),
      // At most one document per `_id`: the limit lets the server close the cursor with its first reply.
      limit: batch.length,
      batchSize: batch.length,
      ...exactReads,
    })
    .toArray();
  return new Map(documents.map((document) => [idKey(document._id), document]));
}

export function idKey(id: unknown): string {
  return EJSON.stringify({ id }, { relaxed: false });
}
