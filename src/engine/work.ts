import type { Db } from 'mongodb';
import { applyBackup, writeConditionally, type ApplyOutcome, type WriteBatchesOptions } from './apply.ts';
import { applyArchive, restoreArchive, verifyArchive, type ArchivePair } from './archive.ts';
import type { ArchiveLocation, BackupKind, BackupManifest } from './backup.ts';
import { afterImage, type BackupEntry } from './document-state.ts';
import { TaskPlanError } from './errors.ts';
import { applyIndexes, INDEX_FIELD, indexEntries, planIndexes, restoreIndexes, verifyIndexes } from './indexes.ts';
import { planChanges, plannedEntries, type PlanReport } from './plan.ts';
import { conditionalDeletes, restoreDeletes, verifyDeletes, type VerifyGoal } from './purge.ts';
import { preImage, restoreBackup, type RestoreOptions, type RestoreOutcome } from './restore.ts';
import { NO_TARGETING, type VerifyCounts, type WriteTargeting } from './run-record.ts';
import { PlanKind, type AnyPlan } from './task.ts';
import { verifyBackup } from './verify.ts';
import { planWholeDocuments, wholeEntries } from './whole-documents.ts';

/** The plan kind each kind of backup comes from, as records and views name it. */
export const planKindOf: Record<BackupKind, PlanKind> = {
  documents: PlanKind.update,
  indexes: PlanKind.indexes,
  deletes: PlanKind.delete,
  archive: PlanKind.archive,
};

/** What the plan and backup steps do, for a plan of any kind. */
export interface Work {
  readonly kind: BackupKind;
  readonly collection: string;
  readonly fields: readonly string[];
  /** What every write's filter carries beyond `_id`; none for indexes, which are not written by document. */
  readonly targeting: WriteTargeting;
  /** Of an archive: where its documents go. */
  readonly into?: ArchiveLocation;
  plan(): Promise<PlanReport>;
  entries(batchSize: number, signal: AbortSignal): AsyncIterable<BackupEntry>;
}

/** What the apply, verify and restore steps need: only the backup, never the task. */
export interface BackupWork {
  apply(options: WriteBatchesOptions): Promise<ApplyOutcome>;
  verify(batches: AsyncIterable<BackupEntry[]>, goal: VerifyGoal, onBatch: (counts: VerifyCounts) => void): Promise<VerifyCounts>;
  restore(planned: number, batches: AsyncIterable<BackupEntry[]>, options: RestoreOptions): Promise<RestoreOutcome>;
}

/** The targeting resolved for a plan's collection, and for an archive's. */
export interface PlanTargeting {
  targeting: WriteTargeting;
  /** Of an archive kept in the run's database: the archive collection's. */
  archiveTargeting?: WriteTargeting;
}

/**
 * `planDb` serves the plan's count and sample only; the backup, which decides
 * every write, and the writes themselves go through `db`.
 */
export function workOf(taskId: string, { db, planDb }: { db: Db; planDb: Db }, plan: AnyPlan, { targeting, archiveTargeting }: PlanTargeting): Work {
  const collection = db.collection(plan.collection);
  const planned = planDb.collection(plan.collection);
  switch (plan.kind) {
    case PlanKind.indexes:
      return {
        kind: 'indexes',
        collection: plan.collection,
        fields: [INDEX_FIELD],
        targeting: NO_TARGETING,
        plan: () => planIndexes(taskId, planned, plan),
        entries: () => indexEntries(taskId, collection, plan),
      };
    case PlanKind.delete:
    case PlanKind.archive:
      if (plan.kind === PlanKind.archive && plan.into.collection === plan.collection && (plan.into.database ?? db.databaseName) === db.databaseName) {
        // Its copies would be the documents themselves: the delete that follows would remove the only copy.
        throw new TaskPlanError(`task ${taskId}: its archive plan moves ${db.databaseName}.${plan.collection} into itself`);
      }
      return {
        kind: plan.kind === PlanKind.delete ? 'deletes' : 'archive',
        collection: plan.collection,
        fields: [],
        targeting,
        ...(plan.kind === PlanKind.archive
          ? { into: { database: plan.into.database ?? db.databaseName, collection: plan.into.collection, targeting: archiveTargeting ?? NO_TARGETING } }
          : {}),
        plan: () => planWholeDocuments(planned, plan, targeting),
        entries: (batchSize, signal) => wholeEntries(collection, plan, targeting.fields, batchSize, signal),
      };
    default:
      return {
        kind: 'documents',
        collection: plan.collection,
        fields: plan.fields,
        targeting,
        plan: () => planChanges(taskId, planned, plan, targeting),
        entries: (batchSize, signal) => plannedEntries(taskId, collection, plan, targeting.fields, batchSize, signal),
      };
  }
}

/** The archive's database, with the run's concerns: the copy and its read-back decide the source's deletes. */
function archivePair(db: Db, source: string, location: ArchiveLocation): ArchivePair {
  const archiveDb =
    location.database === db.databaseName
      ? db
      : db.client.db(location.database, { readConcern: db.readConcern, writeConcern: db.writeConcern, readPreference: db.readPreference });
  return { source: db.collection(source), archive: archiveDb.collection(location.collection), location };
}

export function backupWorkOf(db: Db, manifest: Pick<BackupManifest, 'kind' | 'collection' | 'fields' | 'into'>): BackupWork {
  const collection = db.collection(manifest.collection);
  switch (manifest.kind) {
    case 'indexes':
      return {
        apply: (options) => applyIndexes(collection, options.batches, options.planned),
        verify: (batches, goal) => verifyIndexes(collection, batches, goal === 'applied' ? afterImage : preImage),
        restore: (planned, batches) => restoreIndexes(collection, batches, planned),
      };
    case 'deletes':
      return {
        apply: (options) => writeConditionally(collection, conditionalDeletes(collection), options),
        verify: (batches, goal, onBatch) => verifyDeletes(collection, batches, goal, onBatch),
        restore: (planned, batches, options) => restoreDeletes(collection, planned, batches, options),
      };
    case 'archive': {
      const pair = archivePair(db, manifest.collection, manifest.into!);
      return {
        apply: (options) => applyArchive(pair, options),
        verify: (batches, goal, onBatch) => verifyArchive(pair, batches, goal, onBatch),
        restore: (planned, batches, options) => restoreArchive(pair, planned, batches, options),
      };
    }
    default:
      return {
        apply: (options) => applyBackup(collection, options),
        verify: (batches, goal, onBatch) => verifyBackup(collection, manifest.fields, batches, goal === 'applied' ? afterImage : preImage, onBatch),
        restore: (planned, batches, options) => restoreBackup(collection, manifest.fields, planned, batches, options),
      };
  }
}
