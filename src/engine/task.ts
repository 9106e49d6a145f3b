import type { Db, Document, Filter } from 'mongodb';
import type { z } from 'zod';

export const TaskMode = {
  /** Pending until applied once, like a migration. */
  once: 'once',
  /** May run any number of times. */
  repeatable: 'repeatable',
} as const;
export type TaskMode = (typeof TaskMode)[keyof typeof TaskMode];

/** What a task wants done to one document. Keys are field paths (`email`, `profile.mail`) named in the plan's `fields`. */
export interface FieldChange {
  set?: Record<string, unknown>;
  unset?: string[];
}

/** What a plan does: the runner takes each kind through the same run, with the guarantee of its kind. */
export const PlanKind = {
  /** Set or unset fields of the matched documents (the default). */
  update: 'update',
  /** Create missing indexes. */
  indexes: 'indexes',
  /** Remove the matched documents (a purge). */
  delete: 'delete',
  /** Move the matched documents to another collection. */
  archive: 'archive',
} as const;
export type PlanKind = (typeof PlanKind)[keyof typeof PlanKind];

/**
 * A task's plan of kind `update`: which documents, and what to do with each.
 * The runner streams `filter`, backs up `fields` of every match, and writes
 * only where those fields still hold their backed-up values.
 */
export interface UpdatePlan {
  /** `update` when absent: the tasks written before plans had kinds are update plans. */
  kind?: typeof PlanKind.update;
  collection: string;
  filter: Filter<Document>;
  /**
   * Every field path the change reads or writes (`email`, `profile.mail`): backed up (a value, or its absence), and
   * compared at write time. A plan names a path or its parent, never both.
   */
  fields: readonly string[];
  /** Pure: the same document always gives the same change. */
  change(document: Document): FieldChange;
  /** An index to use for the plan's reads (see DESIGN "Scale"). */
  hint?: Document | string;
  /**
   * For what the filter cannot say on the server (e.g. "not connected right
   * now"): a document the filter matches is planned only if `keep` accepts it.
   * It sees `_id` and `fields`. The plan then streams the matches to count
   * them, instead of counting on the server.
   */
  keep?(document: Document): boolean;
}

/** The update plan's earlier name, kept for the tasks that import it. */
export type TaskPlan = UpdatePlan;

/** An index a task wants on a collection. */
export interface IndexSpec {
  name: string;
  key: Record<string, 1 | -1>;
  unique?: boolean;
}

/**
 * A plan that creates indexes instead of changing documents: the runner backs
 * up which of them are missing, creates those, verifies them, and a restore
 * drops what the run created.
 */
export interface IndexPlan {
  kind: typeof PlanKind.indexes;
  collection: string;
  indexes: readonly IndexSpec[];
}

/**
 * What a delete or an archive plan selects: documents, each backed up whole and
 * removed only while it is still the document backed up.
 */
interface WholeDocumentSelection {
  collection: string;
  filter: Filter<Document>;
  /**
   * Said when the filter is empty: a whole-collection purge is deliberate, never
   * the accident of a filter built from a missing parameter. Refused otherwise.
   */
  wholeCollection?: true;
  /** An index to use for the plan's reads. */
  hint?: Document | string;
  /** For what the filter cannot say on the server: sees the whole document; the plan then streams the matches. */
  keep?(document: Document): boolean;
}

/** A purge: the runner backs up every matched document whole, deletes it while unchanged, and a restore re-inserts it. */
export interface DeletePlan extends WholeDocumentSelection {
  kind: typeof PlanKind.delete;
}

/** Where an archive plan moves its documents: a collection of the same database, or of another on the same deployment. */
export interface ArchiveTarget {
  collection: string;
  /** The run's database when absent. */
  database?: string;
}

/**
 * A move: each document is copied to `into` (majority write concern), the copy
 * read back, and only then deleted from `collection` while unchanged. A restore
 * moves them back.
 */
export interface ArchivePlan extends WholeDocumentSelection {
  kind: typeof PlanKind.archive;
  into: ArchiveTarget;
}

export type AnyPlan = UpdatePlan | IndexPlan | DeletePlan | ArchivePlan;

/** What a task's `plan` returns: one plan, or the steps of a run in order. */
export type TaskPlans = AnyPlan | readonly AnyPlan[];

/**
 * Marks a refinement's issue as a rule between parameters, not one bad value:
 * `context.addIssue({ code: 'custom', path, message, params: BETWEEN_PARAMS })`.
 */
export const BETWEEN_PARAMS = { between: true } as const;

export interface TaskLogger {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * What the host hands a task beyond the database, by name (e.g. a source of
 * who is connected): never audited, so it may hold credentials. A task checks
 * what it needs and refuses to plan without it.
 */
export type TaskServices = Readonly<Record<string, unknown>>;

export interface TaskContext<Params> {
  db: Db;
  params: Params;
  /** Fixed when the run starts; every time the task needs is derived from it. */
  now: Date;
  log: TaskLogger;
  services: TaskServices;
}

export interface MaintenanceTask<Schema extends z.ZodType = z.ZodType> {
  id: string;
  version: number;
  description: string;
  mode: TaskMode;
  params: Schema;
  /**
   * One plan, or an ordered list of them (steps: e.g. delete orphaned memberships, then unset their users'
   * `teamId`), all made before anything is written and run under one lock and one run id.
   */
  plan(context: TaskContext<z.output<Schema>>): TaskPlans | Promise<TaskPlans>;
}

/** Identity with inference, so a task module reads like its description. */
export function defineTask<Schema extends z.ZodType>(task: MaintenanceTask<Schema>): MaintenanceTask<Schema> {
  return task;
}

/** A task as loaded from disk: the module plus what the runner records of it. */
export interface LoadedTask {
  task: MaintenanceTask;
  /** sha256 of the task's source file: a change without a version bump is drift. */
  checksum: string;
  path: string;
}

export function migrationName(task: Pick<MaintenanceTask, 'id' | 'version'>): string {
  return `${task.id}@${task.version}`;
}
