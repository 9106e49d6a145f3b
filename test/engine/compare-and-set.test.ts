import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditFile } from '../../src/db/audit-file.ts';
import { MongoRunLock } from '../../src/db/lock.ts';
import { MongoRunStore } from '../../src/db/run-store.ts';
import { silentObserver } from '../../src/engine/observer.ts';
import type { RunObserver } from '../../src/engine/ports.ts';
import { runTask } from '../../src/engine/runner.ts';
import { loadTasks } from '../../src/engine/task-catalog.ts';
import { REPO } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';

const database = useTestDatabase('cas');

describe('compare-and-set apply', () => {
  it('skips and counts a document changed between plan and apply, and leaves it as the other writer left it', async () => {
    const db = database.db();
    const users = db.collection<{ _id: number; name: string; score?: number; flagged?: boolean }>('users');
    await users.insertMany(Array.from({ length: 12 }, (_, i) => ({ _id: i, name: `u${i}`, score: i })));
    const [flagUsers] = (await loadTasks(join(REPO, 'test', 'fixtures', 'tasks'))).filter((t) => t.task.id === 'flag-users');

    // Another writer touches two planned users once the backup is on disk, before the first write.
    let otherWriter: Promise<unknown> = Promise.resolve();
    const observer: RunObserver = {
      ...silentObserver,
      stepFinished: (step) => {
        if (step === 'backup') otherWriter = users.updateMany({ _id: { $in: [3, 8] } }, { $set: { score: 100 } });
      },
    };

    const record = await runTask(
      {
        db,
        store: new MongoRunStore(db, new AuditFile(join(mkdtempSync(join(tmpdir(), 'cas-')), 'audit.jsonl'))),
        lock: new MongoRunLock(db),
        observer,
      },
      flagUsers!,
      { holdMs: 0 },
      {
        runId: 'cas-run',
        operator: 'test@host',
        target: { uri: 'mongodb://127.0.0.1/', database: database.name },
        dryRun: false,
        backupDir: mkdtempSync(join(tmpdir(), 'cas-backups-')),
        batchSize: 5,
        now: new Date(),
        signal: new AbortController().signal,
        safety: { env: 'development', windows: [], yes: false },
        pace: { beforeBatch: async () => void (await otherWriter), afterBatch: () => undefined, notices: () => [] },
      },
    );

    expect(record.status).toBe('succeeded');
    expect(record.result).toEqual({ state: 'done', planned: 12, written: 10, skipped: 2, failed: 0, remaining: 0 });
    expect(await users.find({ _id: { $in: [3, 8] } }).toArray()).toEqual([
      { _id: 3, name: 'u3', score: 100 },
      { _id: 8, name: 'u8', score: 100 },
    ]);
    expect(await users.countDocuments({ flagged: true, score: { $exists: false } })).toBe(10);
  });
});
