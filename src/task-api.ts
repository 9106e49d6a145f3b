// What a task module imports, from the tasks directory of an installed CLI:
//   import { defineTask, z } from 'presence-maint/task';
// `z` is the CLI's own zod, so the task's parameter schema is the kind the catalog checks for.
export {
  defineTask,
  PlanKind,
  TaskMode,
  type AnyPlan,
  type ArchivePlan,
  type ArchiveTarget,
  type DeletePlan,
  type FieldChange,
  type IndexPlan,
  type IndexSpec,
  type MaintenanceTask,
  type TaskContext,
  type TaskPlan,
  type TaskPlans,
  type UpdatePlan,
} from './engine/task.ts';
export { valueAt } from './engine/paths.ts';
export { z } from 'zod';
