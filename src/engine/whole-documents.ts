import { EJSON } from 'bson';
import type { Collection, Document } from 'mongodb';
import { canonical, targetedFilter, targetingValues, valueCondition, type BackupEntry } from './document-state.ts';
import { exactReads, SAMPLE_SIZE, type PlanReport } from './plan.ts';
import type { WriteTargeting } from './run-record.ts';
import { idKey } from './verify.ts';
import type { ArchivePlan, DeletePlan } from './task.ts';

/**
 * Documents a run removes from their collection (a purge, an archive) are
 * backed up whole: `before` holds every field but `_id`, in the stored order
 * and with the stored types, so a restore inserts back the same bytes.
 */
export function wholeEntry(document: Document, targetingFields: readonly string[]): BackupEntry {
  const { _id, ...fields } = document;
  const targeting = targetingValues(document, targetingFields);
  return { _id, before: fields, absent: [], set: {}, unset: [], ...(targeting === undefined ? {} : { targeting }) };
}

/** The document as it was backed up. */
export function documentOf(entry: BackupEntry): Document {
  return { _id: entry._id, ...entry.before };
}

/**
 * Matches the document only while every field it had when backed up holds the
 * same value (a sub-document compared whole, in order), on the one shard that
 * holds it. The condition of every delete: a document changed since the plan
 * is left alone. A top-level field added since is the one change it cannot see:
 * saying "no other field" needs `$expr` or `$jsonSchema`, which FerretDB refuses.
 */
export function unchangedFilter(entry: BackupEntry): Document {
  const filter = targetedFilter(entry._id, entry.targeting);
  for (const [field, value] of Object.entries(entry.before)) {
    // A shard key field keeps the plain equality that routes the delete to one shard (it never holds an array).
    if (!(field in filter)) filter[field] = valueCondition(value);
  }
  return filter;
}

/** Whether a document read now is, byte for byte, the one backed up. */
export function isBackedUpDocument(document: Document | undefined, entry: BackupEntry): boolean {
  return document !== undefined && canonical(document) === canonical(documentOf(entry));
}

/** The batch's documents as they are now, whole, keyed by `_id`; each looked up with its targeting values. */
export async function currentWholeDocuments(
  collection: Collection,
  batch: readonly BackupEntry[],
  targetingOf: (entry: BackupEntry) => Document | undefined = (entry) => entry.targeting,
): Promise<Map<string, Document>> {
  if (batch.length === 0) return new Map();
  const targeted = batch.some((entry) => targetingOf(entry) !== undefined);
  const filter = targeted
    ? { $or: batch.map((entry) => targetedFilter(entry._id, targetingOf(entry))) }
    : { _id: { $in: batch.map((entry) => entry._id) } };
  const documents = await collection.find(filter as Document, { limit: batch.length, batchSize: batch.length, ...exactReads }).toArray();
  return new Map(documents.map((document) => [idKey(document._id), document]));
}

/** Read-only: how many documents would go, a sample of them, and the backup size to expect. */
export async function planWholeDocuments(collection: Collection, plan: DeletePlan | ArchivePlan, targeting: WriteTargeting): Promise<PlanReport> {
  const { count, sampled } = plan.keep === undefined ? await countOnServer(collection, plan) : await countKept(collection, plan, plan.keep);
  const entries = sampled.map((document) => wholeEntry(document, targeting.fields));
  return {
    collection: collection.collectionName,
    filter: EJSON.stringify(plan.filter, { relaxed: false }),
    fields: [],
    count,
    estimatedBackupBytes: Math.round(averageLineBytes(entries) * count),
    targeting,
    sample: entries.map((entry) => ({ _id: entry._id, before: entry.before, after: {} })),
  };
}

async function countOnServer(collection: Collection, plan: DeletePlan | ArchivePlan) {
  const hint = plan.hint === undefined ? {} : { hint: plan.hint };
  const [count, sampled] = await Promise.all([
    collection.countDocuments(plan.filter, hint),
    collection.find(plan.filter, { limit: SAMPLE_SIZE, ...exactReads, ...hint }).toArray(),
  ]);
  return { count, sampled };
}

/** One pass over the matches, memory flat in their number. */
async function countKept(collection: Collection, plan: DeletePlan | ArchivePlan, keep: (document: Document) => boolean) {
  let count = 0;
  const sampled: Document[] = [];
  for await (const document of matches(collection, plan)) {
    if (!keep(document)) continue;
    count++;
    if (sampled.length < SAMPLE_SIZE) sampled.push(document);
  }
  return { count, sampled };
}

function matches(collection: Collection, plan: DeletePlan | ArchivePlan, batchSize?: number) {
  return collection.find(plan.filter, {
    ...(batchSize === undefined ? {} : { batchSize }),
    ...exactReads,
    ...(plan.hint === undefined ? {} : { hint: plan.hint }),
  });
}

function averageLineBytes(entries: BackupEntry[]): number {
  if (entries.length === 0) return 0;
  return entries.reduce((sum, entry) => sum + EJSON.stringify(entry, { relaxed: false }).length + 1, 0) / entries.length;
}

/** Streams the plan's documents as whole backup entries, one cursor batch at a time. */
export async function* wholeEntries(
  collection: Collection,
  plan: DeletePlan | ArchivePlan,
  targetingFields: readonly string[],
  batchSize: number,
  signal: AbortSignal,
): AsyncGenerator<BackupEntry> {
  const cursor = matches(collection, plan, batchSize);
  try {
    for await (const document of cursor) {
      signal.throwIfAborted();
      if (plan.keep !== undefined && !plan.keep(document)) continue;
      yield wholeEntry(document, targetingFields);
    }
  } finally {
    await cursor.close();
  }
}
