import type { BackupManifest } from './backup.ts';
import type { PlanSummary } from './run-record.ts';

/**
 * A run whose task planned several steps keeps each step's figures, and its own figures add them up, so every
 * view of a run (its counts, its backup, its plan) reads the same whether it had one step or several.
 */

/** The sum of counts of the same shape. */
export function sumOf<T extends object>(parts: readonly T[]): T {
  const total = { ...parts[0]! } as Record<string, unknown>;
  for (const part of parts.slice(1)) {
    for (const [key, value] of Object.entries(part)) {
      if (typeof value === 'number' && typeof total[key] === 'number') total[key] = (total[key] as number) + value;
    }
  }
  return total as T;
}

/** The run's plan: each step said in order, its counts added; one step is its own plan. */
export function runPlanOf(steps: readonly PlanSummary[]): PlanSummary {
  if (steps.length === 1) return steps[0]!;
  return {
    collection: [...new Set(steps.map((step) => step.collection))].join(', '),
    filter: steps.map((step, index) => `step ${index + 1}: ${step.kind ?? 'update'} ${step.collection} where ${step.filter}`).join('; '),
    fields: [...new Set(steps.flatMap((step) => step.fields))],
    count: steps.reduce((sum, step) => sum + step.count, 0),
    estimatedBackupBytes: steps.reduce((sum, step) => sum + step.estimatedBackupBytes, 0),
  };
}

/** Where a step stands in its run, as its backup and views say it; none for a run of one step. */
export function stepOf(index: number, of: number): { step?: { index: number; of: number } } {
  return of === 1 ? {} : { step: { index: index + 1, of } };
}

/** The steps' counts before each step: a run's checkpoint counts entries across its steps, in order. */
export function offsetsOf(manifests: readonly BackupManifest[]): number[] {
  let before = 0;
  return manifests.map((manifest) => {
    const offset = before;
    before += manifest.count;
    return offset;
  });
}
