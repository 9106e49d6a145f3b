import { EJSON } from 'bson';
import { MongoBulkWriteError, type AnyBulkWriteOperation, type BulkWriteResult, type Collection, type Document } from 'mongodb';
import { afterImage, compareAndSetFilter, holdsState, updateFor, type BackupEntry } from './document-state.ts';
import { currentDocuments, idKey } from './verify.ts';
import { errorMessage } from './errors.ts';
import type { ApplyCounts } from './run-record.ts';

export interface ApplyOutcome {
  counts: ApplyCounts;
  /** Set when a write failed: the run stops there. */
  failure?: string;
  /** The error behind `failure`: a lost connection makes it the database's failure, not the task's. */
  cause?: unknown;
  interrupted: boolean;
  /** What the operator should hear of the writes (e.g. documents left alone, and why). */
  notices?: string[];
}

export interface WriteBatchesOptions {
  batches: AsyncIterable<BackupEntry[]>;
  planned: number;
  signal: AbortSignal;
  onBatch(counts: ApplyCounts): void;
  /** Called before each batch; resolves when the next batch may go (rate limit, back-off). */
  pace?: (size: number) => Promise<void>;
  /** Called after each batch's write command, with its error when it failed. */
  afterBatch?: (size: number, elapsedMs: number, error?: unknown) => void;
  /**
   * Set when continuing a run that stopped (killed, interrupted): its first `checkpoint` entries were settled by it
   * and are only read, never written again; a document already in its after-state was written by it.
   */
  continuing?: { checkpoint: number };
}

/** How one kind of conditional write is made and checked, document by document. */
export interface ConditionalWrites {
  /** The batch's documents as they are now, keyed by `idKey` (a missing key: the document is absent). */
  current(batch: readonly BackupEntry[]): Promise<Map<string, Document>>;
  /** The entry's write shows in the document (undefined: absent). */
  done(document: Document | undefined, entry: BackupEntry): boolean;
  /** The document is still as backed up: its write may go. */
  unchanged(document: Document | undefined, entry: BackupEntry): boolean;
  /** The write, conditional on the document being unchanged. */
  operation(entry: BackupEntry): AnyBulkWriteOperation;
  /** How many of a batch's writes took effect. */
  applied(result: BulkWriteResult): number;
}

/** An update's writes: each sets and unsets its paths while they hold their backed-up state. */
export function fieldUpdates(collection: Collection): ConditionalWrites {
  return {
    current: (batch) => currentDocuments(collection, uniqueFields(batch), batch),
    done: (document, entry) => {
      const after = afterImage(entry);
      return document !== undefined && holdsState(document, after.values, after.absent);
    },
    unchanged: (document, entry) => document !== undefined && holdsState(document, entry.before, entry.absent),
    operation: compareAndSetUpdate,
    applied: (result) => result.matchedCount,
  };
}

/** Applies the backup's field changes: see `writeConditionally`. */
export function applyBackup(collection: Collection, options: WriteBatchesOptions): Promise<ApplyOutcome> {
  return writeConditionally(collection, fieldUpdates(collection), options);
}

/**
 * Makes the backup's writes, one ordered `bulkWrite` per batch. Each write is
 * conditional on the document still holding its backed-up state, so a document
 * changed since the plan is skipped, not overwritten. Stops at the first failed
 * write; what was not attempted is counted as remaining.
 */
export async function writeConditionally(collection: Collection, writes: ConditionalWrites, options: WriteBatchesOptions): Promise<ApplyOutcome> {
  const counts: ApplyCounts = { planned: options.planned, written: 0, skipped: 0, failed: 0, remaining: options.planned };
  let seen = 0;
  for await (const whole of options.batches) {
    if (options.signal.aborted) return { counts, interrupted: true };
    const first = seen;
    seen += whole.length;
    const batch = options.continuing ? await settledEarlier(writes, whole, first, options.continuing.checkpoint, counts) : whole;
    if (batch.length === 0) {
      options.onBatch(counts);
      continue;
    }
    await options.pace?.(batch.length);
    if (options.signal.aborted) return { counts, interrupted: true };
    const started = performance.now();
    const operations = batch.map(writes.operation);
    try {
      const result = await collection.bulkWrite(operations, { ordered: true });
      const applied = writes.applied(result);
      counts.written += applied;
      counts.skipped += batch.length - applied;
      counts.remaining -= batch.length;
    } catch (error) {
      options.afterBatch?.(batch.length, performance.now() - started, error);
      const stoppedAt = failedIndex(error);
      if (stoppedAt === undefined) {
        // No per-write report (FerretDB answers a failed statement with a command
        // error; a network error says nothing): settle the batch document by document.
        const settled = await settleBatch(collection, writes, batch, counts).catch((settleError: unknown) => ({
          failure: `batch write failed and its outcome is unknown (verify re-reads it): ${cleanMessage(errorMessage(settleError))}`,
          cause: settleError,
        }));
        options.onBatch(counts);
        if (settled.failure) return { counts, interrupted: false, failure: settled.failure, cause: settled.cause };
        continue;
      }
      const bulkError = error as MongoBulkWriteError;
      const matched = writes.applied(bulkError.result);
      counts.written += matched;
      counts.skipped += stoppedAt - matched;
      counts.failed += 1;
      counts.remaining -= stoppedAt + 1;
      options.onBatch(counts);
      const entry = batch[stoppedAt];
      return {
        counts,
        interrupted: false,
        failure: `write of document ${EJSON.stringify(entry?._id)} failed: ${firstWriteError(bulkError)}`,
      };
    }
    options.afterBatch?.(batch.length, performance.now() - started);
    options.onBatch(counts);
  }
  return { counts, interrupted: false };
}

/**
 * Of a batch of a continued run, what is left to write: documents already in their after-state were written by the
 * run that stopped, and entries before its checkpoint it settled (those not written were changed since). Counted
 * here, so the counts of both parts add up to the plan.
 */
async function settledEarlier(
  writes: ConditionalWrites,
  batch: BackupEntry[],
  first: number,
  checkpoint: number,
  counts: ApplyCounts,
): Promise<BackupEntry[]> {
  const current = await writes.current(batch);
  const left: BackupEntry[] = [];
  batch.forEach((entry, index) => {
    if (writes.done(current.get(idKey(entry._id)), entry)) {
      counts.written++;
      counts.remaining--;
    } else if (first + index < checkpoint) {
      counts.skipped++;
      counts.remaining--;
    } else {
      left.push(entry);
    }
  });
  return left;
}

/**
 * After a batch failed without saying where: a document already in its
 * after-state was written by the batch, one still in its pre-image is retried
 * alone (its own error is then known), anything else changed since the plan.
 */
async function settleBatch(
  collection: Collection,
  writes: ConditionalWrites,
  batch: BackupEntry[],
  counts: ApplyCounts,
): Promise<{ failure?: string; cause?: unknown }> {
  const current = await writes.current(batch);
  for (const entry of batch) {
    const document = current.get(idKey(entry._id));
    counts.remaining--;
    if (writes.done(document, entry)) {
      counts.written++;
    } else if (writes.unchanged(document, entry)) {
      try {
        const applied = writes.applied(await collection.bulkWrite([writes.operation(entry)], { ordered: true }));
        counts.written += applied;
        counts.skipped += 1 - applied;
      } catch (error) {
        counts.failed++;
        return { failure: `write of document ${EJSON.stringify(entry._id)} failed: ${cleanMessage(errorMessage(error))}`, cause: error };
      }
    } else {
      counts.skipped++;
    }
  }
  return {};
}

function uniqueFields(batch: readonly BackupEntry[]): string[] {
  const fields = new Set<string>();
  for (const entry of batch) {
    for (const field of [...Object.keys(entry.before), ...entry.absent, ...Object.keys(entry.set), ...entry.unset]) fields.add(field);
  }
  return [...fields];
}

/** FerretDB prefixes its messages with Go source locations: keep what an operator can read. */
export function cleanMessage(message: string): string {
  return message.replace(/^(\[[^\]]*\]\s*)+/, '');
}

function compareAndSetUpdate(entry: BackupEntry): AnyBulkWriteOperation {
  return {
    updateOne: {
      filter: compareAndSetFilter(entry._id, entry.before, entry.absent, entry.targeting),
      update: updateFor(entry.set, entry.unset),
    },
  };
}

/** Where an ordered bulk write stopped, when the server said so. */
function failedIndex(error: unknown): number | undefined {
  if (!(error instanceof MongoBulkWriteError)) return undefined;
  return writeErrorsOf(error)[0]?.index;
}

function firstWriteError(error: MongoBulkWriteError): string {
  return cleanMessage(writeErrorsOf(error)[0]?.errmsg ?? error.message);
}

function writeErrorsOf(error: MongoBulkWriteError) {
  return Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
}
