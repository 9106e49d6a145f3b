import { EJSON } from 'bson';
import { type Collection, type Document } from 'mongodb';
import { afterImage, projectionOf, toBackupEntry, type BackupEntry } from './document-state.ts';
import { MaintenanceError, ExitCode } from './errors.ts';
import type { PlanSummary } from './run-record.ts';
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

export interface PlanReport extends PlanSummary {
  sample: PlanSample[];
}

const fieldName = /^[^.$][^.]*$/;

export class TaskPlanError extends MaintenanceError {
  constructor(message: string) {
    super(message, ExitCode.failed);
  }
}

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

/** Read-only: a count, a small sample of before → after, and the backup size to expect. */
export async function planChanges(taskId: string, collection: Collection, plan: TaskPlan): Promise<PlanReport> {
  checkPlan(taskId, plan);
  const hint = plan.hint === undefined ? {} : { hint: plan.hint };
  const [count, sampled] = await Promise.all([
    collection.countDocuments(plan.filter, hint),
    collection
      .find(plan.filter, { projection: projectionOf(plan.fields), limit: SAMPLE_SIZE, ...exactReads, ...hint })
      .toArray(),
  ]);
  const entries = sampled.map((document) => toBackupEntry(document, plan.fields, changeOf(taskId, plan, document)));
  return {
    collection: collection.collectionName,
    filter: EJSON.stringify(plan.filter, { relaxed: false }),
    fields: plan.fields,
    count,
    estimatedBackupBytes: Math.round(averageLineBytes(entries) * count),
    sample: entries.map(toSample),
  };
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
  batchSize: number,
  signal: AbortSignal,
): AsyncGenerator<BackupEntry> {
  const cursor = collection.find(plan.filter, {
    projection: projectionOf(plan.fields),
    batchSize,
    ...exactReads,
    ...(plan.hint === undefined ? {} : { hint: plan.hint }),
  });
  try {
    for await (const document of cursor) {
      signal.throwIfAborted();
      yield toBackupEntry(document, plan.fields, changeOf(taskId, plan, document));
    }
  } finally {
    await cursor.close();
  }
}
