import { EJSON } from 'bson';
import type { Collection } from 'mongodb';
import type { ApplyOutcome, WriteBatchesOptions } from './apply.ts';
import { cleanMessage } from './apply.ts';
import type { ArchiveLocation } from './backup.ts';
import { targetingValues, type BackupEntry } from './document-state.ts';
import { errorMessage } from './errors.ts';
import { countVerified, insertBack, stateOf, type VerifyGoal, type WholeDocumentState } from './purge.ts';
import type { RestoreOptions, RestoreOutcome } from './restore.ts';
import type { ApplyCounts, RestoreCounts, VerifyCounts } from './run-record.ts';
import { idKey } from './verify.ts';
import { currentWholeDocuments, documentOf, unchangedFilter } from './whole-documents.ts';

/**
 * An archive moves each document in three writes, in an order that never leaves it in neither collection: copy it
 * to the archive (majority write concern), read the copy back, and only then delete it from the source while it is
 * still the document backed up. Every step reads where each document stands first, so a run killed anywhere and
 * run again, or resumed, finishes the move without a duplicate.
 */
export interface ArchivePair {
  source: Collection;
  archive: Collection;
  location: ArchiveLocation;
}

const MAJORITY = { w: 'majority' } as const;

/** The entry as the archive's own filters find it: its `_id` and the archive's shard key, read from the document. */
function archiveEntry(pair: ArchivePair, entry: BackupEntry): BackupEntry {
  const { targeting: _sourceTargeting, ...rest } = entry;
  const targeting = targetingValues(documentOf(entry), pair.location.targeting.fields);
  return targeting === undefined ? rest : { ...rest, targeting };
}

interface Placement {
  entry: BackupEntry;
  source: WholeDocumentState;
  archive: WholeDocumentState;
}

async function placements(pair: ArchivePair, batch: readonly BackupEntry[]): Promise<Placement[]> {
  const inArchive = batch.map((entry) => archiveEntry(pair, entry));
  const [source, archive] = await Promise.all([currentWholeDocuments(pair.source, batch), currentWholeDocuments(pair.archive, inArchive)]);
  return batch.map((entry) => ({
    entry,
    source: stateOf(source.get(idKey(entry._id)), entry),
    archive: stateOf(archive.get(idKey(entry._id)), entry),
  }));
}

/** Conditional deletes, counted; what they did not delete was changed since. */
async function deleteUnchanged(collection: Collection, entries: readonly BackupEntry[]): Promise<number> {
  if (entries.length === 0) return 0;
  const result = await collection.bulkWrite(
    entries.map((entry) => ({ deleteOne: { filter: unchangedFilter(entry) } })),
    { ordered: true, writeConcern: MAJORITY },
  );
  return result.deletedCount;
}

/** Documents a run reports by `_id`: how many, the first few named. */
class IdSample {
  count = 0;
  readonly examples: string[] = [];

  add(id: unknown): void {
    this.count++;
    if (this.examples.length < 5) this.examples.push(EJSON.stringify(id, { relaxed: true }));
  }
}

/** What an archive leaves for a person to look at, never settled by overwriting or deleting a copy it cannot tell. */
class ArchiveNotices {
  /** Already in the archive with other content: left in the source. */
  readonly conflicts = new IdSample();
  /** Copied by a stopped run, changed in the source since: the copy kept. */
  readonly keptCopies = new IdSample();

  of(location: ArchiveLocation): string[] {
    const notices: string[] = [];
    if (this.conflicts.count > 0) {
      notices.push(`${this.conflicts.count} document(s) already in ${archiveName(location)} with other content, left in the source (never overwritten), e.g. _id ${this.conflicts.examples.join(', ')}`);
    }
    if (this.keptCopies.count > 0) {
      notices.push(
        `${this.keptCopies.count} document(s) copied to ${archiveName(location)} by the stopped run and changed in the source since: both kept (the stopped run may have moved them before a new document took their _id), e.g. _id ${this.keptCopies.examples.join(', ')}`,
      );
    }
    return notices;
  }
}

/** Moves the backup's documents, batch by batch; see `ArchivePair`. */
export async function applyArchive(pair: ArchivePair, options: WriteBatchesOptions): Promise<ApplyOutcome> {
  const reported = new ArchiveNotices();
  const counts: ApplyCounts = { planned: options.planned, written: 0, skipped: 0, failed: 0, remaining: options.planned };
  let seen = 0;
  for await (const batch of options.batches) {
    const first = seen;
    seen += batch.length;
    if (options.signal.aborted) return { counts, interrupted: true, notices: reported.of(pair.location) };
    await options.pace?.(batch.length);
    if (options.signal.aborted) return { counts, interrupted: true, notices: reported.of(pair.location) };
    const started = performance.now();
    try {
      const settled = options.continuing === undefined ? undefined : Math.min(batch.length, Math.max(0, options.continuing.checkpoint - first));
      const moved = await moveBatch(pair, batch, settled, reported);
      counts.written += moved;
      counts.skipped += batch.length - moved;
      counts.remaining -= batch.length;
    } catch (error) {
      options.afterBatch?.(batch.length, performance.now() - started, error);
      options.onBatch(counts);
      return {
        counts,
        interrupted: false,
        failure: `archive of a batch failed (verify re-reads it): ${cleanMessage(errorMessage(error))}`,
        cause: error,
        notices: reported.of(pair.location),
      };
    }
    options.afterBatch?.(batch.length, performance.now() - started);
    options.onBatch(counts);
  }
  return { counts, interrupted: false, notices: reported.of(pair.location) };
}

/**
 * One batch: read the source, copy what is still as backed up, delete from the source what the archive confirmed.
 * A run that continues a stopped one (`settled`: how many of the batch's entries lie before its checkpoint) first
 * reads the archive too. The stopped run finished with the entries before its checkpoint: they are only counted,
 * moved when their copy is in the archive, even where the source holds a new document with that `_id` since. After
 * it, what it finds moved is counted. A copy of a document changed in the source since is kept and reported: the
 * record's checkpoint may lag the last batch, so it may be a copy the stopped run made but could not delete the
 * source of (stale), or the only copy of a document it moved before a new one took its `_id` (to keep).
 * Returns how many documents are now moved.
 */
async function moveBatch(pair: ArchivePair, batch: readonly BackupEntry[], settled: number | undefined, reported: ArchiveNotices): Promise<number> {
  let moved = 0;
  let pending: readonly BackupEntry[] = batch;
  if (settled !== undefined) {
    const places = await placements(pair, batch);
    const unsettled = places.slice(settled);
    moved =
      places.slice(0, settled).filter((place) => place.archive === 'backed-up').length +
      unsettled.filter((place) => place.source === 'absent' && place.archive === 'backed-up').length;
    for (const place of unsettled) if (place.source === 'changed' && place.archive === 'backed-up') reported.keptCopies.add(place.entry._id);
    pending = unsettled.filter((place) => place.source === 'backed-up').map((place) => place.entry);
  }
  const source = await currentWholeDocuments(pair.source, pending);
  const unchanged = pending.filter((entry) => stateOf(source.get(idKey(entry._id)), entry) === 'backed-up');
  // Confirmed by the majority acknowledgment, or read back when the archive already held some of these `_id`s.
  const copies = await insertBack(pair.archive, unchanged.map((entry) => archiveEntry(pair, entry)), MAJORITY);
  for (const entry of copies.existsAgain) reported.conflicts.add(entry._id);
  const confirmed = unchanged.filter((entry) => !copies.existsAgain.some((other) => idKey(other._id) === idKey(entry._id)));
  const deleted = await deleteUnchanged(pair.source, confirmed);
  if (deleted === confirmed.length) return moved + deleted;
  // Some changed in the source between the copy and the delete: their copies go, the source's version stays.
  const places = await placements(pair, confirmed);
  await removeStaleCopies(pair, places);
  return moved + places.filter((place) => place.source === 'absent' && place.archive === 'backed-up').length;
}

async function removeStaleCopies(pair: ArchivePair, places: readonly Placement[]): Promise<void> {
  const stale = places.filter((place) => place.source === 'changed' && place.archive === 'backed-up');
  await deleteUnchanged(pair.archive, stale.map((place) => archiveEntry(pair, place.entry)));
}

/** After an archive, every planned document is in the archive alone, or was changed since in the source; after its restore, in the source alone. */
export async function verifyArchive(
  pair: ArchivePair,
  batches: AsyncIterable<BackupEntry[]>,
  goal: VerifyGoal,
  onBatch: (counts: VerifyCounts) => void,
): Promise<VerifyCounts> {
  const counts: VerifyCounts = { checked: 0, inTargetState: 0, notInTargetState: 0, changedSince: 0, missing: 0 };
  for await (const batch of batches) {
    for (const { source, archive } of await placements(pair, batch)) {
      const moved = source === 'absent' && archive === 'backed-up';
      const back = source === 'backed-up' && archive === 'absent';
      if (source === 'changed') countVerified(counts, 'changed');
      else if (goal === 'applied') countVerified(counts, moved ? 'target' : 'not-target');
      else countVerified(counts, back ? 'target' : source === 'absent' && archive === 'absent' ? 'missing' : 'not-target');
    }
    onBatch(counts);
  }
  return counts;
}

/**
 * Moves archived documents back: inserted into the source (majority), read back, then deleted from the archive
 * while unchanged there; one found in neither is inserted back from the backup. One that exists again in the
 * source, or whose archived copy changed, is reported and left where it is. Restoring twice changes nothing.
 */
export async function restoreArchive(pair: ArchivePair, planned: number, batches: AsyncIterable<BackupEntry[]>, options: RestoreOptions): Promise<RestoreOutcome> {
  const counts: RestoreCounts = { planned, restored: 0, alreadyRestored: 0, conflicts: 0, forced: 0, remaining: planned };
  for await (const batch of batches) {
    if (options.signal.aborted) return { counts, interrupted: true };
    await options.pace?.(batch.length);
    if (options.signal.aborted) return { counts, interrupted: true };
    const started = performance.now();
    try {
      const places = await placements(pair, batch);
      const where = (source: WholeDocumentState, archive: WholeDocumentState) =>
        places.filter((place) => place.source === source && place.archive === archive).map((place) => place.entry);
      // A restore stopped between its insert and its delete left both: the source's is back, the copy goes.
      const inBoth = where('backed-up', 'backed-up');
      // In neither (its copy removed by someone else since): the backup is the one copy left, so it goes back too.
      const back = await insertBack(pair.source, [...where('absent', 'backed-up'), ...where('absent', 'absent')], MAJORITY);
      await deleteUnchanged(pair.archive, [...back.inserted, ...inBoth].map((entry) => archiveEntry(pair, entry)));
      const already = where('backed-up', 'absent').length;
      counts.restored += back.inserted.length + inBoth.length;
      counts.alreadyRestored += already;
      counts.conflicts += batch.length - back.inserted.length - inBoth.length - already;
      counts.remaining -= batch.length;
    } catch (error) {
      options.afterBatch?.(batch.length, performance.now() - started, error);
      return { counts, interrupted: false, failure: `restore of a batch failed: ${errorMessage(error)}`, cause: error };
    }
    options.afterBatch?.(batch.length, performance.now() - started);
    options.onBatch(counts);
  }
  return { counts, interrupted: false };
}

/** Where an archive's documents are, as a restore's plan says it. */
export function archiveName(location: Pick<ArchiveLocation, 'database' | 'collection'>): string {
  return `${location.database}.${location.collection}`;
}
