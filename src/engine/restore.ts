import type { AnyBulkWriteOperation, Collection, Document } from 'mongodb';
import type { WriteBatchesOptions } from './apply.ts';
import { afterImage, compareAndSetFilter, holdsState, targetedFilter, updateFor, type BackupEntry } from './document-state.ts';
import { errorMessage } from './errors.ts';
import type { RestoreCounts } from './run-record.ts';
import { currentDocuments, idKey } from './verify.ts';

export interface RestoreOptions extends Pick<WriteBatchesOptions, 'pace' | 'afterBatch'> {
  /** Also overwrite documents changed since the run. */
  force: boolean;
  signal: AbortSignal;
  onBatch(counts: RestoreCounts): void;
}

export interface RestoreOutcome {
  counts: RestoreCounts;
  failure?: string;
  /** The error behind `failure`. */
  cause?: unknown;
  interrupted: boolean;
}

/**
 * Puts pre-images back, the reverse compare-and-set of apply: only documents
 * still in the state the run left them are restored. A document already back
 * in its pre-image is counted, not rewritten, so restoring twice changes
 * nothing. Anything else changed since the run: reported, or overwritten when forced.
 */
export async function restoreBackup(
  collection: Collection,
  fields: readonly string[],
  planned: number,
  batches: AsyncIterable<BackupEntry[]>,
  options: RestoreOptions,
): Promise<RestoreOutcome> {
  const counts: RestoreCounts = { planned, restored: 0, alreadyRestored: 0, conflicts: 0, forced: 0, remaining: planned };
  for await (const batch of batches) {
    if (options.signal.aborted) return { counts, interrupted: true };
    const current = await currentDocuments(collection, fields, batch);
    const guarded: AnyBulkWriteOperation[] = [];
    const forced: AnyBulkWriteOperation[] = [];
    // Parents the run created: removed where found empty, also after a restore that stopped before removing them.
    const emptied: AnyBulkWriteOperation[] = [];
    for (const entry of batch) {
      const document = current.get(idKey(entry._id));
      const after = afterImage(entry);
      if (document !== undefined && holdsState(document, entry.before, entry.absent)) {
        counts.alreadyRestored++;
        emptied.push(...removeEmptyParents(entry));
      } else if (document !== undefined && holdsState(document, after.values, after.absent)) {
        guarded.push(putBack(entry, compareAndSetFilter(entry._id, after.values, after.absent, entry.targeting)));
        emptied.push(...removeEmptyParents(entry));
      } else if (document !== undefined && options.force) {
        forced.push(putBack(entry, targetedFilter(entry._id, entry.targeting)));
        emptied.push(...removeEmptyParents(entry));
      } else counts.conflicts++;
    }
    await options.pace?.(guarded.length + forced.length);
    if (options.signal.aborted) return { counts, interrupted: true };
    const started = performance.now();
    try {
      if (guarded.length > 0) {
        const result = await collection.bulkWrite(guarded, { ordered: true });
        counts.restored += result.matchedCount;
        counts.conflicts += guarded.length - result.matchedCount;
      }
      if (forced.length > 0) {
        const result = await collection.bulkWrite(forced, { ordered: true });
        counts.forced += result.matchedCount;
        counts.conflicts += forced.length - result.matchedCount;
      }
      if (emptied.length > 0) await collection.bulkWrite(emptied, { ordered: true });
    } catch (error) {
      options.afterBatch?.(guarded.length + forced.length, performance.now() - started, error);
      return { counts, interrupted: false, failure: `restore write failed: ${errorMessage(error)}`, cause: error };
    }
    if (guarded.length + forced.length > 0) options.afterBatch?.(guarded.length + forced.length, performance.now() - started);
    counts.remaining -= batch.length;
    options.onBatch(counts);
  }
  return { counts, interrupted: false };
}

/** What a restore gives back: every path's value or absence, and no parent the run created. */
export function preImage(entry: BackupEntry): { values: Document; absent: readonly string[] } {
  return { values: entry.before, absent: [...entry.absent, ...(entry.createdParents ?? [])] };
}

/** Each parent the run created, innermost first, removed only while it is an empty sub-document. */
function removeEmptyParents(entry: BackupEntry): AnyBulkWriteOperation[] {
  return (entry.createdParents ?? []).map((parent) => ({
    updateOne: { filter: { ...targetedFilter(entry._id, entry.targeting), [parent]: { $eq: {} } }, update: { $unset: { [parent]: '' } } },
  }));
}

/** Writes back the pre-image of the fields the run changed. */
function putBack(entry: BackupEntry, filter: object): AnyBulkWriteOperation {
  const changed = new Set([...Object.keys(entry.set), ...entry.unset]);
  const set = Object.fromEntries(Object.entries(entry.before).filter(([field]) => changed.has(field)));
  const unset = entry.absent.filter((field) => changed.has(field));
  return { updateOne: { filter, update: updateFor(set, unset) } };
}
