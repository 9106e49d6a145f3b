import { EJSON } from 'bson';
import { MongoBulkWriteError, MongoServerError, type Collection, type Document } from 'mongodb';
import type { ConditionalWrites } from './apply.ts';
import type { BackupEntry } from './document-state.ts';
import { errorMessage } from './errors.ts';
import type { RestoreOptions, RestoreOutcome } from './restore.ts';
import type { RestoreCounts, VerifyCounts } from './run-record.ts';
import { idKey } from './verify.ts';
import { currentWholeDocuments, documentOf, isBackedUpDocument, unchangedFilter } from './whole-documents.ts';

/**
 * A purge: each document backed up whole is deleted only while it is still, field for field, the document backed
 * up; a restore inserts back those that are absent and reports those that exist again.
 */
export function conditionalDeletes(collection: Collection): ConditionalWrites {
  return {
    current: (batch) => currentWholeDocuments(collection, batch),
    done: (document) => document === undefined,
    unchanged: isBackedUpDocument,
    operation: (entry) => ({ deleteOne: { filter: unchangedFilter(entry) } }),
    applied: (result) => result.deletedCount,
  };
}

/** Where a purged (or archived) document stands against its backup. */
export type WholeDocumentState = 'absent' | 'backed-up' | 'changed';

export function stateOf(document: Document | undefined, entry: BackupEntry): WholeDocumentState {
  if (document === undefined) return 'absent';
  return isBackedUpDocument(document, entry) ? 'backed-up' : 'changed';
}

/** Counts one document for verify, given whether it is where the run (or its restore) meant it to be. */
export function countVerified(counts: VerifyCounts, state: 'target' | 'not-target' | 'changed' | 'missing'): void {
  counts.checked++;
  if (state === 'target') counts.inTargetState++;
  else if (state === 'missing') counts.missing++;
  else {
    counts.notInTargetState++;
    if (state === 'changed') counts.changedSince++;
  }
}

export type VerifyGoal = 'applied' | 'restored';

/** After a purge, every planned document is gone or was changed since (skipped); after its restore, back as it was. */
export async function verifyDeletes(
  collection: Collection,
  batches: AsyncIterable<BackupEntry[]>,
  goal: VerifyGoal,
  onBatch: (counts: VerifyCounts) => void,
): Promise<VerifyCounts> {
  const counts: VerifyCounts = { checked: 0, inTargetState: 0, notInTargetState: 0, changedSince: 0, missing: 0 };
  for await (const batch of batches) {
    const current = await currentWholeDocuments(collection, batch);
    for (const entry of batch) {
      const state = stateOf(current.get(idKey(entry._id)), entry);
      if (state === 'changed') countVerified(counts, 'changed');
      else if (goal === 'applied') countVerified(counts, state === 'absent' ? 'target' : 'not-target');
      else countVerified(counts, state === 'backed-up' ? 'target' : 'missing');
    }
    onBatch(counts);
  }
  return counts;
}

/**
 * Inserts back each purged document that is absent; one that exists again (the same `_id`, looked up with its
 * targeting values on the shard that holds it) is reported, never overwritten, forced or not. Restoring twice
 * changes nothing.
 */
export async function restoreDeletes(
  collection: Collection,
  planned: number,
  batches: AsyncIterable<BackupEntry[]>,
  options: RestoreOptions,
): Promise<RestoreOutcome> {
  const counts: RestoreCounts = { planned, restored: 0, alreadyRestored: 0, conflicts: 0, forced: 0, remaining: planned };
  for await (const batch of batches) {
    if (options.signal.aborted) return { counts, interrupted: true };
    const current = await currentWholeDocuments(collection, batch);
    const absent: BackupEntry[] = [];
    for (const entry of batch) {
      const state = stateOf(current.get(idKey(entry._id)), entry);
      if (state === 'backed-up') counts.alreadyRestored++;
      else if (state === 'changed') counts.conflicts++;
      else absent.push(entry);
    }
    await options.pace?.(absent.length);
    if (options.signal.aborted) return { counts, interrupted: true };
    const started = performance.now();
    const inserted = await insertBack(collection, absent).catch((error: unknown) => ({ error }));
    if ('error' in inserted) {
      options.afterBatch?.(absent.length, performance.now() - started, inserted.error);
      return { counts, interrupted: false, failure: `restore write failed: ${errorMessage(inserted.error)}`, cause: inserted.error };
    }
    if (absent.length > 0) options.afterBatch?.(absent.length, performance.now() - started);
    counts.restored += inserted.inserted.length;
    counts.conflicts += inserted.existsAgain.length;
    counts.remaining -= batch.length;
    options.onBatch(counts);
  }
  return { counts, interrupted: false };
}

const DUPLICATE_KEY = 11000;

/** Entries inserted back, and those whose `_id` holds another document now. */
export interface Inserted {
  inserted: BackupEntry[];
  existsAgain: BackupEntry[];
}

/**
 * One unordered `insertMany`; its acknowledgment (with the collection's write concern, or the one given) confirms
 * the whole batch. A duplicate key is a document that exists again, never the failure of the batch. MongoDB goes on
 * past each and reports them all; an engine that stops at its first error (whatever `ordered` says) leaves the rest
 * absent: the batch is then read back and each still absent inserted alone, so the outcome is the same on both.
 */
export async function insertBack(collection: Collection, entries: readonly BackupEntry[], writeConcern?: Document): Promise<Inserted> {
  if (entries.length === 0) return { inserted: [], existsAgain: [] };
  const options = { ordered: false, ...(writeConcern === undefined ? {} : { writeConcern }) };
  try {
    await collection.insertMany(entries.map(documentOf), options);
    return { inserted: [...entries], existsAgain: [] };
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
    if (error instanceof MongoBulkWriteError) {
      const other = writeErrorsOf(error).find((writeError) => writeError.code !== DUPLICATE_KEY);
      if (other !== undefined) throw new Error(`insert of document ${EJSON.stringify(entries[other.index]?._id)} failed: ${other.errmsg}`, { cause: error });
    }
    return settleInserts(collection, entries, options);
  }
}

/** After an insert that reported duplicates: each entry is now the backed-up document (inserted), another (exists again), or absent (inserted alone). */
async function settleInserts(collection: Collection, entries: readonly BackupEntry[], options: Document): Promise<Inserted> {
  const current = await currentWholeDocuments(collection, entries);
  const outcome: Inserted = { inserted: [], existsAgain: [] };
  for (const entry of entries) {
    const state = stateOf(current.get(idKey(entry._id)), entry);
    if (state === 'backed-up') outcome.inserted.push(entry);
    else if (state === 'changed') outcome.existsAgain.push(entry);
    else {
      try {
        await collection.insertOne(documentOf(entry), options);
        outcome.inserted.push(entry);
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        outcome.existsAgain.push(entry);
      }
    }
  }
  return outcome;
}

/** A duplicate key, alone or among a bulk write's errors (the driver's bulk error carries the first one's code). */
function isDuplicateKey(error: unknown): boolean {
  if (error instanceof MongoBulkWriteError) return writeErrorsOf(error).some((writeError) => writeError.code === DUPLICATE_KEY);
  return error instanceof MongoServerError && error.code === DUPLICATE_KEY;
}

function writeErrorsOf(error: MongoBulkWriteError) {
  return Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
}
