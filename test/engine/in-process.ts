import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db, Document } from 'mongodb';
import { z } from 'zod';
import { AuditFile } from '../../src/db/audit-file.ts';
import { MongoRunLock } from '../../src/db/lock.ts';
import { MongoRunStore } from '../../src/db/run-store.ts';
import { openBackup } from '../../src/engine/backup.ts';
import { silentObserver } from '../../src/engine/observer.ts';
import type { RunnerDeps, RunSettings } from '../../src/engine/runner.ts';
import { restoreRun, runTask } from '../../src/engine/runner.ts';
import type { RestoreRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { defineTask, type LoadedTask, type TaskPlans } from '../../src/engine/task.ts';
import type { RunObserver } from '../../src/engine/ports.ts';

/** A task made in the test, as a module in `tasks/` would declare it. */
export function taskOf(id: string, plan: () => TaskPlans): LoadedTask {
  const task = defineTask({ id, version: 1, description: `test task ${id}`, mode: 'repeatable', params: z.object({}), plan });
  return { task, checksum: `checksum-of-${id}`, path: `${id}.ts` };
}

/**
 * The engine's run path in this process, as the CLI drives it, with one state
 * directory (backups, local audit) per harness.
 */
export function inProcessRunner(db: Db, database: string) {
  const state = mkdtempSync(join(tmpdir(), 'engine-run-'));
  const backupDir = join(state, 'backups');
  const deps = (observer: RunObserver = silentObserver): RunnerDeps => ({
    db,
    store: new MongoRunStore(db, new AuditFile(join(state, 'audit.jsonl'))),
    lock: new MongoRunLock(db),
    observer,
  });
  const settings = (options: { dryRun?: boolean; beforeBatch?: () => Promise<void> } = {}): RunSettings => ({
    runId: `engine-${randomUUID().slice(0, 8)}`,
    operator: 'test@host',
    target: { uri: 'mongodb://127.0.0.1/', database },
    dryRun: options.dryRun ?? false,
    backupDir,
    batchSize: 7,
    now: new Date(),
    signal: new AbortController().signal,
    safety: { env: 'development', windows: [], yes: false },
    pace: { beforeBatch: async () => options.beforeBatch?.(), afterBatch: () => undefined, notices: () => [] },
  });
  return {
    backupDir,
    run(loaded: LoadedTask, options: { dryRun?: boolean; observer?: RunObserver; beforeBatch?: () => Promise<void> } = {}): Promise<TaskRunRecord> {
      return runTask(deps(options.observer), loaded, {}, settings(options));
    },
    async restore(runId: string, options: { force?: boolean } = {}): Promise<RestoreRecord> {
      const manifest = await openBackup(backupDir, runId);
      return restoreRun(deps(), manifest, { ...settings(), restoreOf: runId, force: options.force ?? false });
    },
  };
}

/** Documents sorted by `_id`, in their stored field order, typed: what "byte for byte" compares. */
export async function storedDocuments(db: Db, collection: string): Promise<Document[]> {
  return db.collection(collection).find({}, { sort: { _id: 1 }, promoteValues: false }).toArray();
}
