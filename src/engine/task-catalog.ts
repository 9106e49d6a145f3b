import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { UsageError } from './errors.ts';
import { importTask } from './task-import.ts';
import { TaskMode, type LoadedTask, type MaintenanceTask } from './task.ts';

const taskFile = /^[^_.].*\.(ts|js|mjs)$/;
const taskId = /^[a-z][a-z0-9-]{0,62}$/;

/** Loads every task module in `dir` (its default export), each with its source checksum. */
export async function loadTasks(dir: string): Promise<LoadedTask[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((file) => taskFile.test(file) && !file.endsWith('.d.ts')).sort();
  } catch (error) {
    throw new UsageError(`cannot read the tasks directory ${dir} (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  const loaded: LoadedTask[] = [];
  for (const file of files) {
    const path = resolve(join(dir, file));
    const source = await readFile(path);
    const module = (await importTask(path)) as { default?: unknown };
    const task = checkTask(module.default, file);
    const duplicate = loaded.find((other) => other.task.id === task.id);
    if (duplicate) throw new UsageError(`task id "${task.id}" is declared by both ${duplicate.path} and ${path}`);
    loaded.push({ task, path, checksum: createHash('sha256').update(source).digest('hex') });
  }
  return loaded;
}

function checkTask(candidate: unknown, file: string): MaintenanceTask {
  const task = candidate as Partial<MaintenanceTask> | undefined;
  const problem =
    typeof task !== 'object' || task === null
      ? 'has no default export'
      : typeof task.id !== 'string' || !taskId.test(task.id)
        ? 'needs an id of lower-case letters, digits and dashes'
        : !Number.isInteger(task.version) || (task.version ?? 0) < 1
          ? 'needs a version that is a positive integer'
          : task.mode !== TaskMode.once && task.mode !== TaskMode.repeatable
            ? 'needs a mode of "once" or "repeatable"'
            : !(task.params instanceof z.ZodObject)
              ? 'needs params declared as a zod object'
              : typeof task.plan !== 'function'
                ? 'needs a plan function'
                : typeof task.description !== 'string'
                  ? 'needs a description'
                  : undefined;
  if (problem) throw new UsageError(`task module ${file} ${problem}`);
  return task as MaintenanceTask;
}

export function findTask(tasks: readonly LoadedTask[], id: string): LoadedTask {
  const found = tasks.find((loaded) => loaded.task.id === id);
  if (!found) {
    const known = tasks.map((loaded) => loaded.task.id).join(', ') || 'none';
    throw new UsageError(`unknown task "${id}" (known tasks: ${known})`);
  }
  return found;
}

/**
 * Validates `--param key=value` pairs against the task's schema: unknown keys
 * and invalid values are usage errors naming the parameter.
 */
export function parseParams(loaded: LoadedTask, pairs: Record<string, string>): Record<string, unknown> {
  const schema = (loaded.task.params as z.ZodObject).strict();
  const result = schema.safeParse(pairs);
  if (result.success) return result.data as Record<string, unknown>;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys((loaded.task.params as z.ZodObject).shape).join(', ') || 'none';
    throw new UsageError(`task ${loaded.task.id}: unknown parameter "${issue.keys[0]}" (parameters: ${known})`);
  }
  throw new UsageError(`task ${loaded.task.id}: parameter "${issue.path.join('.')}": ${issue.message}`);
}
