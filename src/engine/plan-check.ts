import { z } from 'zod';
import { TaskPlanError } from './errors.ts';
import { isSubDocument, nestedPair, pathProblem } from './paths.ts';
import { PlanKind, type AnyPlan } from './task.ts';

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
} satisfies Record<PlanKind, z.ZodType>;

const kinds = Object.values(PlanKind);

/** The plan as its kind describes it, or a refusal naming the task and the rule it breaks. */
export function checkedPlan(taskId: string, plan: unknown): AnyPlan {
  if (!isSubDocument(plan)) throw new TaskPlanError(`task ${taskId}: its plan is not an object (a plan is one of: ${kinds.join(', ')})`);
  const kind = plan.kind ?? PlanKind.update;
  if (!kinds.includes(kind as PlanKind)) {
    throw new TaskPlanError(`task ${taskId}: its plan's kind ${JSON.stringify(kind)} is not one of: ${kinds.join(', ')}`);
  }
  const checked = shapes[kind as PlanKind].safeParse(plan);
  if (!checked.success) throw new TaskPlanError(`task ${taskId}: its ${kind} plan ${ruleBroken(kind as PlanKind, checked.error)}`);
  return plan as unknown as AnyPlan;
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
