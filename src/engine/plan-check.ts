import { z } from 'zod';
import { TaskPlanError } from './errors.ts';
import { isSubDocument, nestedPair, pathProblem } from './paths.ts';
import { PlanKind, type AnyPlan, type ArchivePlan, type DeletePlan } from './task.ts';

/**
 * The shapes a task's plan may take, one per kind, checked when the plan is
 * made: a task that returns something else, or mixes two kinds' fields, is
 * refused before anything is read or written.
 */

const functionValue = z.custom<(...args: never[]) => unknown>((value) => typeof value === 'function', 'must be a function');
const documentValue = z.custom<Record<string, unknown>>(isSubDocument, 'must be a document');
const collectionName = z.string({ error: 'must be a collection name' }).min(1, 'must not be empty');

const fieldPath = z.string({ error: 'must be a field path' }).superRefine((path, context) => {
  const problem = pathProblem(path);
  if (problem !== undefined) context.addIssue({ code: 'custom', message: `"${path}" ${problem}` });
});

const fieldPaths = z
  .array(fieldPath, { error: 'must be a list of field paths' })
  .min(1, 'names no field')
  .superRefine((paths, context) => {
    const twice = paths.find((path, index) => paths.indexOf(path) !== index);
    if (twice !== undefined) context.addIssue({ code: 'custom', message: `names "${twice}" twice` });
    const pair = nestedPair(paths);
    if (pair !== undefined) {
      context.addIssue({ code: 'custom', message: `names both "${pair[0]}" and "${pair[1]}", which is inside it: name the path or its parent, not both` });
    }
  });

function wholeDocumentSelection() {
  return {
    collection: collectionName,
    filter: documentValue,
    wholeCollection: z.literal(true, { error: 'must be true when said' }).optional(),
    hint: z.union([z.string(), documentValue]).optional(),
    keep: functionValue.optional(),
  };
}

const shapes = {
  [PlanKind.update]: z.strictObject({
    kind: z.literal(PlanKind.update).optional(),
    collection: collectionName,
    filter: documentValue,
    fields: fieldPaths,
    change: functionValue,
    hint: z.union([z.string(), documentValue]).optional(),
    keep: functionValue.optional(),
  }),
  [PlanKind.indexes]: z.strictObject({
    kind: z.literal(PlanKind.indexes),
    collection: collectionName,
    indexes: z.array(
      z.strictObject({
        name: z.string().min(1, 'must not be empty'),
        key: z.record(z.string(), z.union([z.literal(1), z.literal(-1)]), { error: 'must map field paths to 1 or -1' }),
        unique: z.boolean().optional(),
      }),
    ),
  }),
  [PlanKind.delete]: z.strictObject({ kind: z.literal(PlanKind.delete), ...wholeDocumentSelection() }),
  [PlanKind.archive]: z.strictObject({
    kind: z.literal(PlanKind.archive),
    ...wholeDocumentSelection(),
    into: z.strictObject({ collection: collectionName, database: z.string().min(1, 'must not be empty').optional() }, { error: 'must say the archive\'s collection (and database)' }),
  }),
} satisfies Record<PlanKind, z.ZodType>;

const kinds = Object.values(PlanKind);

/** A task's plans, one or several steps, each as its kind describes it; or a refusal naming the task, the step and the rule. */
export function checkedPlans(taskId: string, plans: unknown): AnyPlan[] {
  if (!Array.isArray(plans)) return [checkedPlan(taskId, plans)];
  if (plans.length === 0) throw new TaskPlanError(`task ${taskId}: its plan is an empty list of steps (return one plan, or the steps in order)`);
  return plans.map((plan, index) => checkedPlan(plans.length === 1 ? taskId : `${taskId} (step ${index + 1} of ${plans.length})`, plan));
}

/** The plan as its kind describes it, or a refusal naming the task and the rule it breaks. */
function checkedPlan(taskId: string, plan: unknown): AnyPlan {
  if (!isSubDocument(plan)) throw new TaskPlanError(`task ${taskId}: its plan is not an object (a plan is one of: ${kinds.join(', ')})`);
  const kind = plan.kind ?? PlanKind.update;
  if (!kinds.includes(kind as PlanKind)) {
    throw new TaskPlanError(`task ${taskId}: its plan's kind ${JSON.stringify(kind)} is not one of: ${kinds.join(', ')}`);
  }
  const checked = shapes[kind as PlanKind].safeParse(plan);
  if (!checked.success) throw new TaskPlanError(`task ${taskId}: its ${kind} plan ${ruleBroken(kind as PlanKind, checked.error)}`);
  const checkedPlan = plan as unknown as AnyPlan;
  if (checkedPlan.kind === PlanKind.delete || checkedPlan.kind === PlanKind.archive) assertDeliberate(taskId, checkedPlan);
  return checkedPlan;
}

/** An empty filter removes the whole collection: only when the plan says so, and a plan that says so has an empty filter. */
function assertDeliberate(taskId: string, plan: DeletePlan | ArchivePlan): void {
  const empty = Object.keys(plan.filter).length === 0;
  if (empty && plan.wholeCollection !== true) {
    throw new TaskPlanError(
      `task ${taskId}: its ${plan.kind} plan has an empty filter, which matches every document of ${plan.collection}: say "wholeCollection: true" when that is meant`,
    );
  }
  if (!empty && plan.wholeCollection === true) {
    throw new TaskPlanError(`task ${taskId}: its ${plan.kind} plan says "wholeCollection" but has a filter: one or the other`);
  }
}

function ruleBroken(kind: PlanKind, error: z.ZodError): string {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const owner = (key: string) => kinds.find((other) => other !== kind && key in shapes[other].shape);
    const named = issue.keys.map((key) => (owner(key) === undefined ? `"${key}"` : `"${key}" (of a ${owner(key)} plan)`));
    return `has ${named.join(', ')}, which it does not take: a plan is one kind (${kinds.join(', ')}) and says so in "kind"`;
  }
  const where = issue.path.length === 0 ? '' : `"${issue.path.join('.')}" `;
  return `${where}${issue.message}`;
}
