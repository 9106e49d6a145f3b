import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EJSON } from 'bson';
import type { Db, Document } from 'mongodb';
import { REPO, runCli, type CliOptions, type CliResult } from '../support/cli.ts';

/** An example as a user keeps it: copied alone into a directory of their own, no node_modules, only the CLI. */
export function exampleInBareDirectory(file: string): string {
  const tasksDir = mkdtempSync(join(tmpdir(), 'my-tasks-'));
  writeFileSync(join(tasksDir, 'package.json'), JSON.stringify({ type: 'module' }));
  copyFileSync(join(REPO, 'examples', 'tasks', file), join(tasksDir, file));
  return tasksDir;
}

/** Commands that load no task, so take no `--tasks-dir`: steering a run by its id. */
const TASKLESS = new Set(['pause', 'resume', 'cancel']);

/** `presence <args>` against the test's database, with the user's tasks directory and a private state directory. */
export function presenceWith(uri: () => string, tasksDir: string, stateDir: string) {
  return (args: string[], options: CliOptions = {}): Promise<CliResult> =>
    runCli([...args, '--uri', uri(), ...(TASKLESS.has(args[0]!) ? [] : ['--tasks-dir', tasksDir])], {
      ...options,
      env: { PRESENCE_STATE_DIR: stateDir, ...options.env },
    });
}

/** Every document of a collection in `_id` order, with its stored types. */
export function storedDocuments(db: Db, collection: string): Promise<Document[]> {
  return db.collection(collection).find({}, { sort: { _id: 1 }, promoteValues: false }).toArray();
}

/** Field order and BSON types included: equal text is the same bytes. */
export function bytesOf(documents: readonly Document[]): string {
  return EJSON.stringify(documents, { relaxed: false });
}
