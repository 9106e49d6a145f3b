import { EJSON } from 'bson';
import { MongoBulkWriteError, type AnyBulkWriteOperation, type Collection } from 'mongodb';
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

/**
 * Applies the backup's changes, one ordered `bulkWrite` per batch. Each write is
 * conditional on the document still holding its backed-up state, so a document
 * changed since the plan is skipped, not overwritten. Stops at the first failed
 * write; what was not attempted is counted as remaining.
 */
export async function applyBackup(collection: Collection, options: WriteBatchesOptions): Promise<ApplyOutcome> {
  const counts: ApplyCounts = { planned: options.planned, written: 0, skipped: 0, failed: 0, remaining: options.planned };
  let seen = 0;
  for await (const whole of options.batches) {
    if (options.signal.aborted) return { counts, interrupted: true };
    const first = seen;
    seen += whole.length;
    const batch = options.continuing ? await settledEarlier(collection, whole, first, options.continuing.checkpoint, counts) : whole;
    if (batch.length === 0) {
      options.onBatch(counts);
      continue;
    }
    await options.pace?.(batch.length);
    if (options.signal.aborted) return { counts, interrupted: true };
    const started = performance.now();
    const operations = batch.map(compareAndSetUpdate);
    try {
      const result = await collection.bulkWrite(operations, { ordered: true });
      counts.written += result.matchedCount;
      counts.skipped += batch.length - result.matchedCount;
      counts.remaining -= batch.length;
    } catch (error) {
      options.afterBatch?.(batch.length, performance.now() - started, error);
      const stoppedAt = failedIndex(error);
      if (stoppedAt === undefined) {
        // No per-write report (FerretDB answers a failed statement with a command
        // error; a network error says nothing): settle the batch document by document.
        const settled = await settleBatch(collection, batch, counts).catch((settleError: unknown) => ({
          failure: `batch write failed and its outcome is unknown (verify re-reads it): ${cleanMessage(errorMessage(settleError))}`,
          cause: settleError,
        }));
        options.onBatch(counts);
        if (settled.failure) return { counts, interrupted: false, failure: settled.failure, cause: settled.cause };
        continue;
      }
      const bulkError = error as MongoBulkWriteError;
      const matched = bulkError.result.matchedCount;
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
  collection: Collection,
  batch: BackupEntry[],
  first: number,
  checkpoint: number,
  counts: ApplyCounts,
): Promise<BackupEntry[]> {
  const current = await currentDocuments(collection, uniqueFields(batch), batch);
  const left: BackupEntry[] = [];
  batch.forEach((entry, index) => {
    const document = current.get(idKey(entry._id));
    const after = afterImage(entry);
    if (document !== undefined && holdsState(document, after.values, after.absent)) {
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
  batch: BackupEntry[],
  counts: ApplyCounts,
): Promise<{ failure?: string; cause?: unknown }> {
  const current = await currentDocuments(collection, uniqueFields(batch), batch);
  for (const entry of batch) {
    const document = current.get(idKey(entry._id));
    const after = afterImage(entry);
    counts.remaining--;
    if (document !== undefined && holdsState(document, after.values, after.absent)) {
      counts.written++;
    } else if (document !== undefined && holdsState(document, entry.before, entry.absent)) {
      try {
        const result = await collection.bulkWrite([compareAndSetUpdate(entry)], { ordered: true });
        counts.written += result.matchedCount;
        counts.skipped += 1 - result.matchedCount;
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

function uniqueFields(batch: BackupEntry[]): string[] {
  const fields = new Set<string>();
  for (const entry of batch) {
    for (const field of [...Object.keys(entry.before), ...entry.absent, ...Object.keys(entry.set), ...entry.unset]) fields.add(field);
  }
  return [...fields];
}

/** FerretDB prefixes its messages with Go source locations: keep what an operator can read. */
function cleanMessage(message: string): string {
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
