import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from 'mongodb';
import type { z } from 'zod';
import { AuditFile } from '../../src/db/audit-file.ts';
import { MongoRunLock } from '../../src/db/lock.ts';
import { MongoRunStore } from '../../src/db/run-store.ts';
import { silentObserver } from '../../src/engine/observer.ts';
import type { RunObserver } from '../../src/engine/ports.ts';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { runTask } from '../../src/engine/runner.ts';
import { findTask, loadTasks } from '../../src/engine/task-catalog.ts';
import type { TaskServices } from '../../src/engine/task.ts';
import { REPO } from '../support/cli.ts';

export interface InProcessRun {
  db: Db;
  database: string;
  taskId: string;
  params: Record<string, unknown>;
  /** The run's clock: fixed, so a cut-off can be tested to the second. */
  now: Date;
  observer?: RunObserver;
  /** Awaited before each write batch (e.g. another writer's update). */
  beforeBatch?: () => Promise<void>;
  /** What the task may need beyond the database (e.g. who is connected). */
  services?: TaskServices;
}

/** A bundled task through the engine's run path, in this process, as the CLI would run it. */
export async function runBundledTask(run: InProcessRun): Promise<TaskRunRecord> {
  const loaded = findTask(await loadTasks(join(REPO, 'tasks')), run.taskId);
  const state = mkdtempSync(join(tmpdir(), 'presence-run-'));
  return runTask(
    {
      db: run.db,
      store: new MongoRunStore(run.db, new AuditFile(join(state, 'audit.jsonl'))),
      lock: new MongoRunLock(run.db),
      observer: run.observer ?? silentObserver,
    },
    loaded,
    // Parsed by the task's own schema, defaults filled in, as every command does before a run.
    (loaded.task.params as z.ZodObject).strict().parse(run.params) as Record<string, unknown>,
    {
      runId: `in-process-${Math.random().toString(16).slice(2, 8)}`,
      operator: 'test@host',
      target: { uri: 'mongodb://127.0.0.1/', database: run.database },
      dryRun: false,
      backupDir: join(state, 'backups'),
      batchSize: 20,
      now: run.now,
      signal: new AbortController().signal,
      safety: { env: 'development', windows: [], yes: false },
      pace: { beforeBatch: async () => run.beforeBatch?.(), afterBatch: () => undefined, notices: () => [] },
      services: run.services,
    },
  );
}
