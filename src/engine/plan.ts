import { EJSON } from 'bson';
import { type Collection, type Document } from 'mongodb';
import { afterImage, projectionOf, toBackupEntry, type BackupEntry } from './document-state.ts';
import { TaskPlanError } from './errors.ts';
import { blockedPathProblem, isWithin } from './paths.ts';
import type { PlanSummary, WriteTargeting } from './run-record.ts';
import type { FieldChange, UpdatePlan } from './task.ts';

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

/** The change for one document, checked against what the plan declared. */
export function changeOf(taskId: string, plan: UpdatePlan, document: Document): FieldChange {
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
function entryOf(taskId: string, plan: UpdatePlan, document: Document, targetingFields: readonly string[]): BackupEntry {
  const change = changeOf(taskId, plan, document);
  for (const field of [...Object.keys(change.set ?? {}), ...(change.unset ?? [])]) {
    const path = targetingFields.find((targeted) => targeted === field || targeted.startsWith(`${field}.`));
    if (path !== undefined) {
      throw new TaskPlanError(`task ${taskId}: changes "${field}", which holds the targeting field "${path}" (the shard key): the runner does not change it`);
    }
  }
  return toBackupEntry(document, plan.fields, change, targetingFields);
}

/**
 * Why a matched document cannot be written, or undefined: a path runs through a
 * value that is not a sub-document (an array, null, text). Such a document is
 * left alone, counted as malformed by the plan and never backed up.
 */
function malformedProblem(plan: UpdatePlan, document: Document): string | undefined {
  for (const path of plan.fields) {
    const problem = blockedPathProblem(document, path);
    if (problem !== undefined) return `${EJSON.stringify(document._id, { relaxed: true })}: ${problem}`;
  }
  return undefined;
}

/** Read-only: a count, a small sample of before → after, the malformed matches left alone, and the backup size to expect. */
export async function planChanges(
  taskId: string,
  collection: Collection,
  plan: UpdatePlan,
  targeting: WriteTargeting,
): Promise<PlanReport> {
  const read = readFields(plan, targeting.fields);
  // Only a nested path can be blocked by what holds it; top-level fields are counted on the server.
  const { count, sampled, malformed } =
    plan.keep === undefined && !plan.fields.some((path) => path.includes('.'))
      ? { ...(await countOnServer(collection, plan, read)), malformed: { count: 0, examples: [] } }
      : await countKept(collection, plan, read, plan.keep ?? (() => true));
  const entries = sampled.map((document) => entryOf(taskId, plan, document, targeting.fields));
  return {
    collection: collection.collectionName,
    filter: EJSON.stringify(plan.filter, { relaxed: false }),
    fields: plan.fields,
    count,
    estimatedBackupBytes: Math.round(averageLineBytes(entries) * count),
    targeting,
    ...(malformed.count === 0 ? {} : { malformed }),
    sample: entries.map(toSample),
  };
}

/** What the plan's reads fetch: the task's fields and the targeting fields, backed up together. */
function readFields(plan: UpdatePlan, targetingFields: readonly string[]): string[] {
  return [...plan.fields, ...targetingFields];
}

async function countOnServer(collection: Collection, plan: UpdatePlan, read: readonly string[]): Promise<{ count: number; sampled: Document[] }> {
  const hint = plan.hint === undefined ? {} : { hint: plan.hint };
  const [count, sampled] = await Promise.all([
    collection.countDocuments(plan.filter, hint),
    collection.find(plan.filter, { projection: projectionOf(read), limit: SAMPLE_SIZE, ...exactReads, ...hint }).toArray(),
  ]);
  return { count, sampled };
}

/** One pass over the filter's matches, keeping the first few kept as the sample: memory flat in the matches. */
async function countKept(collection: Collection, plan: UpdatePlan, read: readonly string[], keep: (document: Document) => boolean) {
  let count = 0;
  const sampled: Document[] = [];
  const malformed = { count: 0, examples: [] as string[] };
  for await (const document of matches(collection, plan, read)) {
    const problem = malformedProblem(plan, document);
    if (problem !== undefined) {
      malformed.count++;
      if (malformed.examples.length < SAMPLE_SIZE) malformed.examples.push(problem);
      continue;
    }
    if (!keep(document)) continue;
    count++;
    if (sampled.length < SAMPLE_SIZE) sampled.push(document);
  }
  return { count, sampled, malformed };
}

function matches(collection: Collection, plan: UpdatePlan, read: readonly string[], batchSize?: number) {
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
  plan: UpdatePlan,
  targetingFields: readonly string[],
  batchSize: number,
  signal: AbortSignal,
): AsyncGenerator<BackupEntry> {
  const cursor = matches(collection, plan, readFields(plan, targetingFields), batchSize);
  try {
    for await (const document of cursor) {
      signal.throwIfAborted();
      if (malformedProblem(plan, document) !== undefined) continue;
      if (plan.keep !== undefined && !plan.keep(document)) continue;
      yield entryOf(taskId, plan, document, targetingFields);
    }
  } finally {
    await cursor.close();
  }
}
