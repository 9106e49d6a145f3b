import { EJSON } from 'bson';
import { MongoServerError, type Collection, type Document } from 'mongodb';
import type { ApplyOutcome } from './apply.ts';
import { afterImage, holdsState, type BackupEntry } from './document-state.ts';
import { errorMessage, TaskPlanError } from './errors.ts';
import type { PlanReport } from './plan.ts';
import type { RestoreOutcome } from './restore.ts';
import type { ApplyCounts, RestoreCounts, VerifyCounts } from './run-record.ts';
import type { IndexPlan, IndexSpec } from './task.ts';
import type { TargetState } from './verify.ts';

/**
 * Indexes go through the same backup, apply, verify and restore as documents:
 * each index is an entry whose pre-image is "absent" and whose change sets its
 * definition, and the collection's indexes are read as `{_id: name, index}`.
 */
export const INDEX_FIELD = 'index';

function definition(spec: Pick<IndexSpec, 'key' | 'unique'>): Document {
  const key = Object.fromEntries(Object.entries(spec.key).map(([field, order]) => [field, Number(order)]));
  return spec.unique ? { key, unique: true } : { key };
}

/** The collection's indexes as documents; none when the collection does not exist yet. */
async function currentIndexes(collection: Collection): Promise<Map<string, Document>> {
  try {
    const indexes = await collection.listIndexes().toArray();
    return new Map(indexes.map((index) => [index.name as string, { _id: index.name, [INDEX_FIELD]: definition(index as IndexSpec) }]));
  } catch (error) {
    if (error instanceof MongoServerError && error.code === 26) return new Map();
    throw error;
  }
}

function toEntry(spec: IndexSpec): BackupEntry {
  return { _id: spec.name, before: {}, absent: [INDEX_FIELD], set: { [INDEX_FIELD]: definition(spec) }, unset: [] };
}

/** The missing indexes; an index of the same name with another definition is a task error. */
async function missingIndexes(taskId: string, collection: Collection, plan: IndexPlan): Promise<BackupEntry[]> {
  const current = await currentIndexes(collection);
  const missing: BackupEntry[] = [];
  for (const spec of plan.indexes) {
    const entry = toEntry(spec);
    const existing = current.get(spec.name);
    if (existing === undefined) missing.push(entry);
    else if (!holdsState(existing, entry.set, [])) {
      throw new TaskPlanError(`task ${taskId}: index ${spec.name} exists with another definition: ${EJSON.stringify(existing[INDEX_FIELD])}`);
    }
  }
  return missing;
}

export async function planIndexes(taskId: string, collection: Collection, plan: IndexPlan): Promise<PlanReport> {
  const missing = await missingIndexes(taskId, collection, plan);
  return {
    collection: collection.collectionName,
    filter: `indexes ${plan.indexes.map((spec) => spec.name).join(', ')}`,
    fields: [INDEX_FIELD],
    count: missing.length,
    estimatedBackupBytes: 0,
    sample: missing.map((entry) => ({ _id: entry._id, before: {}, after: entry.set })),
  };
}

export async function* indexEntries(taskId: string, collection: Collection, plan: IndexPlan): AsyncGenerator<BackupEntry> {
  yield* await missingIndexes(taskId, collection, plan);
}

/** Creates the backed-up missing indexes; one created meanwhile by someone else is skipped. */
export async function applyIndexes(collection: Collection, batches: AsyncIterable<BackupEntry[]>, planned: number): Promise<ApplyOutcome> {
  const counts: ApplyCounts = { planned, written: 0, skipped: 0, failed: 0, remaining: planned };
  for await (const batch of batches) {
    const current = await currentIndexes(collection);
    for (const entry of batch) {
      counts.remaining--;
      if (current.has(String(entry._id))) {
        counts.skipped++;
        continue;
      }
      const { key, unique } = entry.set[INDEX_FIELD] as IndexSpec;
      try {
        await collection.createIndex(key, { name: String(entry._id), ...(unique ? { unique } : {}) });
        counts.written++;
      } catch (error) {
        counts.failed++;
        return { counts, interrupted: false, failure: `creating index ${String(entry._id)} failed: ${errorMessage(error)}` };
      }
    }
  }
  return { counts, interrupted: false };
}

export async function verifyIndexes(
  collection: Collection,
  batches: AsyncIterable<BackupEntry[]>,
  targetState: TargetState,
): Promise<VerifyCounts> {
  const counts: VerifyCounts = { checked: 0, inTargetState: 0, notInTargetState: 0, changedSince: 0, missing: 0 };
  const current = await currentIndexes(collection);
  for await (const batch of batches) {
    for (const entry of batch) {
      counts.checked++;
      const target = targetState(entry);
      const index = current.get(String(entry._id)) ?? { _id: entry._id };
      if (holdsState(index, target.values, target.absent)) counts.inTargetState++;
      else counts.notInTargetState++;
    }
  }
  return counts;
}

/** Drops the indexes the run created, if they are still as it created them. */
export async function restoreIndexes(
  collection: Collection,
  batches: AsyncIterable<BackupEntry[]>,
  planned: number,
): Promise<RestoreOutcome> {
  const counts: RestoreCounts = { planned, restored: 0, alreadyRestored: 0, conflicts: 0, forced: 0, remaining: planned };
  const current = await currentIndexes(collection);
  for await (const batch of batches) {
    for (const entry of batch) {
      counts.remaining--;
      const index = current.get(String(entry._id));
      const after = afterImage(entry);
      if (index === undefined) counts.alreadyRestored++;
      else if (!holdsState(index, after.values, after.absent)) counts.conflicts++;
      else {
        try {
          await collection.dropIndex(String(entry._id));
          counts.restored++;
        } catch (error) {
          return { counts, interrupted: false, failure: `dropping index ${String(entry._id)} failed: ${errorMessage(error)}` };
        }
      }
    }
  }
  return { counts, interrupted: false };
}
