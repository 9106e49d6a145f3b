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

/** How a refused parameter is named in its one-line error: a task's `--param`, or a setting and where it was set. */
export interface ParamNaming {
  /** `path`: the parameter, then where inside it. */
  badValue(path: readonly string[], message: string): string;
  /** A rule between parameters; `path` names one when the rule is about it. */
  brokenRule(message: string, path?: readonly string[]): string;
  unknown(key: string, known: readonly string[]): string;
}

export function taskParamNaming(task: Pick<MaintenanceTask, 'id'>): ParamNaming {
  return {
    badValue: (path, message) => `task ${task.id}: parameter "${path.join('.')}": ${message}`,
    brokenRule: (message, path = []) =>
      path.length === 0 ? `task ${task.id}: ${message}` : `task ${task.id}: parameter "${path.join('.')}" ${message}`,
    unknown: (key, known) => `task ${task.id}: unknown parameter "${key}" (parameters: ${known.join(', ') || 'none'})`,
  };
}

/**
 * The one parser of task parameters, whatever they come from (`--param
 * key=value`, presence settings): unknown keys, invalid values and broken
 * rules between values are usage errors, named by `naming`.
 */
export function parseParams(
  schema: z.ZodType,
  values: Record<string, unknown>,
  naming: ParamNaming,
): Record<string, unknown> {
  const object = schema as z.ZodObject;
  const result = object.strict().safeParse(values);
  if (result.success) return result.data as Record<string, unknown>;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') throw new UsageError(naming.unknown(issue.keys[0]!, Object.keys(object.shape)));
  const path = issue.path.map(String);
  const betweenParams = issue.code === 'custom' && issue.params?.between === true;
  throw new UsageError(path.length === 0 || betweenParams ? naming.brokenRule(issue.message, path) : naming.badValue(path, issue.message));
}

/** A task's `--param key=value` pairs, checked against its schema. */
export function parseTaskParams(loaded: LoadedTask, pairs: Record<string, string>): Record<string, unknown> {
  return parseParams(loaded.task.params, pairs, taskParamNaming(loaded.task));
}
