import { register as registerNodeHooks } from 'node:module';
import { extname, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packageRoot } from '../package-root.ts';

/** The specifier a task module imports the task API by (package.json `exports`). */
export const TASK_API_SPECIFIER = 'presence-maint/task';

// Resolves the task API to the running CLI's own copy: a task in any directory (no node_modules of its own,
// or another install of presence-maint) gets the defineTask and zod that this CLI checks its tasks against.
// Inside the package (the built-in tasks, the test fixtures) Node resolves the package's own name itself.
const resolveTaskApiHook = `
let api;
export function initialize(data) { api = data.api; }
export async function resolve(specifier, context, next) {
  return specifier === ${JSON.stringify(TASK_API_SPECIFIER)} ? { url: api, shortCircuit: true } : next(specifier, context);
}`;

let taskApiResolved = false;
let typeScript: Promise<(specifier: string, parent: string) => Promise<unknown>> | undefined;

/**
 * Imports one task module. A TypeScript task goes through tsx, registered on the first one only, in its own
 * namespace: the CLI's compiled code neither pays for tsx at startup nor runs through its hooks.
 */
export async function importTask(path: string): Promise<unknown> {
  if (relative(packageRoot(), path).startsWith('..')) resolveTaskApi();
  const url = pathToFileURL(path).href;
  if (!/\.[cm]?ts$/.test(path)) return import(url);
  typeScript ??= import('tsx/esm/api').then(({ register }) => register({ namespace: 'presence-tasks' }).import);
  return (await typeScript)(url, import.meta.url);
}

function resolveTaskApi(): void {
  if (taskApiResolved) return;
  taskApiResolved = true;
  // The API module is compiled alongside this one: `.js` in dist, `.ts` when run from the sources.
  const api = new URL(`../task-api${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;
  registerNodeHooks(`data:text/javascript,${encodeURIComponent(resolveTaskApiHook)}`, { data: { api } });
}
