import { EJSON } from 'bson';
import { type Collection, type Document } from 'mongodb';
import { afterImage, projectionOf, toBackupEntry, type BackupEntry } from './document-state.ts';
import { TaskPlanError } from './errors.ts';
import type { PlanSummary, WriteTargeting } from './run-record.ts';
import type { FieldChange, TaskPlan } from './task.ts';

export const SAMPLE_SIZE = 5;

/**
 * Reads are made with `promoteValues: false` so numbers keep their BSON type
 * (Int32, Double, Long): a pre-image restored later must be byte-identical.
 */
export const exactReads = { promoteValues: false } as const;

export interface PlanSample {
  _id: unknown;
  before: Document;
  after: Document;
}

export interface PlanReport extends Omit<PlanSummary, 'sample'> {
  sample: PlanSample[];
}

const fieldName = /^[^.$][^.]*$/;

export function checkPlan(taskId: string, plan: TaskPlan): void {
  if (plan.fields.length === 0) throw new TaskPlanError(`task ${taskId}: its plan names no fields`);
  for (const field of plan.fields) {
    if (!fieldName.test(field) || field === '_id') {
      throw new TaskPlanError(`task ${taskId}: "${field}" is not a top-level field the runner can back up`);
    }
  }
}

/** The change for one document, checked against what the plan declared. */
export function changeOf(taskId: string, plan: TaskPlan, document: Document): FieldChange {
  const change = plan.change(document);
  const touched = [...Object.keys(change.set ?? {}), ...(change.unset ?? [])];
  if (touched.length === 0) throw new TaskPlanError(`task ${taskId}: empty change for a planned document`);
  for (const field of touched) {
    if (!plan.fields.includes(field)) {
      throw new TaskPlanError(`task ${taskId}: changes "${field}", which its plan does not declare in fields`);
    }
  }
  return change;
}

/**
 * A document's backup entry. A change to a targeting field (or to a field
 * holding one) is refused: its backed-up value would no longer find the
 * document, and on a sharded cluster the write would move it between shards.
 */
function entryOf(taskId: string, plan: TaskPlan, document: Document, targetingFields: readonly string[]): BackupEntry {
  const change = changeOf(taskId, plan, document);
  for (const field of [...Object.keys(change.set ?? {}), ...(change.unset ?? [])]) {
    const path = targetingFields.find((targeted) => targeted === field || targeted.startsWith(`${field}.`));
    if (path !== undefined) {
      throw new TaskPlanError(`task ${taskId}: changes "${field}", which holds the targeting field "${path}" (the shard key): the runner does not change it`);
    }
  }
  return toBackupEntry(document, plan.fields, change, targetingFields);
}

/** Read-only: a count, a small sample of before → after, and the backup size to expect. */
export async function planChanges(
  taskId: string,
  collection: Collection,
  plan: TaskPlan,
  targeting: WriteTargeting,
): Promise<PlanReport> {
  checkPlan(taskId, plan);
  const read = readFields(plan, targeting.fields);
  const { count, sampled } =
    plan.keep === undefined ? await countOnServer(collection, plan, read) : await countKept(collection, plan, read, plan.keep);
  const entries = sampled.map((document) => entryOf(taskId, plan, document, targeting.fields));
  return {
    collection: collection.collectionName,
    filter: EJSON.stringify(plan.filter, { relaxed: false }),
    fields: plan.fields,
    count,
    estimatedBackupBytes: Math.round(averageLineBytes(entries) * count),
    targeting,
    sample: entries.map(toSample),
  };
}

/** What the plan's reads fetch: the task's fields and the targeting fields, backed up together. */
function readFields(plan: TaskPlan, targetingFields: readonly string[]): string[] {
  return [...plan.fields, ...targetingFields];
}

async function countOnServer(collection: Collection, plan: TaskPlan, read: readonly string[]): Promise<{ count: number; sampled: Document[] }> {
  const hint = plan.hint === undefined ? {} : { hint: plan.hint };
  const [count, sampled] = await Promise.all([
    collection.countDocuments(plan.filter, hint),
    collection.find(plan.filter, { projection: projectionOf(read), limit: SAMPLE_SIZE, ...exactReads, ...hint }).toArray(),
  ]);
  return { count, sampled };
}

/** One pass over the filter's matches, keeping the first few kept as the sample: memory flat in the matches. */
async function countKept(collection: Collection, plan: TaskPlan, read: readonly string[], keep: (document: Document) => boolean) {
  let count = 0;
  const sampled: Document[] = [];
  for await (const document of matches(collection, plan, read)) {
    if (!keep(document)) continue;
    count++;
    if (sampled.length < SAMPLE_SIZE) sampled.push(document);
  }
  return { count, sampled };
}

function matches(collection: Collection, plan: TaskPlan, read: readonly string[], batchSize?: number) {
  return collection.find(plan.filter, {
    projection: projectionOf(read),
    ...(batchSize === undefined ? {} : { batchSize }),
    ...exactReads,
    ...(plan.hint === undefined ? {} : { hint: plan.hint }),
  });
}

/** The sample as a run record keeps it: text, since field values may hold `$` keys. */
export function sampleText(sample: readonly PlanSample[]): string {
  return EJSON.stringify(sample, { relaxed: false });
}

/** A recorded sample read back; none from a record that did not keep one. */
export function sampleFromText(text: string | undefined): PlanSample[] {
  return text === undefined ? [] : (EJSON.parse(text, { relaxed: false }) as PlanSample[]);
}

function toSample(entry: BackupEntry): PlanSample {
  return { _id: entry._id, before: entry.before, after: afterImage(entry).values };
}

function averageLineBytes(entries: BackupEntry[]): number {
  if (entries.length === 0) return 0;
  const total = entries.reduce((sum, entry) => sum + EJSON.stringify(entry, { relaxed: false }).length + 1, 0);
  return total / entries.length;
}

/** Streams the plan's documents as backup entries, one cursor batch at a time. */
export async function* plannedEntries(
  taskId: string,
  collection: Collection,
  plan: TaskPlan,
  targetingFields: readonly string[],
  batchSize: number,
  signal: AbortSignal,
): AsyncGenerator<BackupEntry> {
  const cursor = matches(collection, plan, readFields(plan, targetingFields), batchSize);
  try {
    for await (const document of cursor) {
      signal.throwIfAborted();
      if (plan.keep !== undefined && !plan.keep(document)) continue;
      yield entryOf(taskId, plan, document, targetingFields);
    }
  } finally {
    await cursor.close();
  }
}
