import type { Db } from 'mongodb';
import { applyBackup, type ApplyOutcome, type WriteBatchesOptions } from './apply.ts';
import type { BackupKind, BackupManifest } from './backup.ts';
import type { BackupEntry } from './document-state.ts';
import { applyIndexes, INDEX_FIELD, indexEntries, planIndexes, restoreIndexes, verifyIndexes } from './indexes.ts';
import { planChanges, plannedEntries, type PlanReport } from './plan.ts';
import { restoreBackup, type RestoreOptions, type RestoreOutcome } from './restore.ts';
import { NO_TARGETING, type VerifyCounts, type WriteTargeting } from './run-record.ts';
import { PlanKind, type AnyPlan } from './task.ts';
import { verifyBackup, type TargetState } from './verify.ts';

/** What the run path does at each step, for documents or for indexes. */
export interface Work {
  readonly kind: BackupKind;
  readonly collection: string;
  readonly fields: readonly string[];
  /** What every write's filter carries beyond `_id`; none for indexes, which are not written by document. */
  readonly targeting: WriteTargeting;
  plan(): Promise<PlanReport>;
  entries(batchSize: number, signal: AbortSignal): AsyncIterable<BackupEntry>;
  apply(options: WriteBatchesOptions): Promise<ApplyOutcome>;
}

/** What a restore and a verify need: only the backup, never the task. */
export interface Undo {
  verify(batches: AsyncIterable<BackupEntry[]>, target: TargetState, onBatch: (counts: VerifyCounts) => void): Promise<VerifyCounts>;
  restore(
    planned: number,
    batches: AsyncIterable<BackupEntry[]>,
    options: RestoreOptions,
  ): Promise<RestoreOutcome>;
}

/**
 * `planDb` serves the plan's count and sample only; the backup, which decides
 * every write, and the writes themselves go through `db`.
 */
export function workOf(taskId: string, { db, planDb }: { db: Db; planDb: Db }, plan: AnyPlan, targeting: WriteTargeting): Work {
  const collection = db.collection(plan.collection);
  const planned = planDb.collection(plan.collection);
  if (plan.kind === PlanKind.indexes) {
    return {
      kind: 'indexes',
      collection: plan.collection,
      fields: [INDEX_FIELD],
      targeting: NO_TARGETING,
      plan: () => planIndexes(taskId, planned, plan),
      entries: () => indexEntries(taskId, collection, plan),
      apply: (options) => applyIndexes(collection, options.batches, options.planned),
    };
  }
  return {
    kind: 'documents',
    collection: plan.collection,
    fields: plan.fields,
    targeting,
    plan: () => planChanges(taskId, planned, plan, targeting),
    entries: (batchSize, signal) => plannedEntries(taskId, collection, plan, targeting.fields, batchSize, signal),
    apply: (options) => applyBackup(collection, options),
  };
}

export function undoOf(db: Db, manifest: Pick<BackupManifest, 'kind' | 'collection' | 'fields'>): Undo {
  const collection = db.collection(manifest.collection);
  if (manifest.kind === 'indexes') {
    return {
      verify: (batches, target) => verifyIndexes(collection, batches, target),
      restore: (planned, batches) => restoreIndexes(collection, batches, planned),
    };
  }
  return {
    verify: (batches, target, onBatch) => verifyBackup(collection, manifest.fields, batches, target, onBatch),
    restore: (planned, batches, options) => restoreBackup(collection, manifest.fields, planned, batches, options),
  };
}
