import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditFile } from '../../src/db/audit-file.ts';
import { MongoRunLock } from '../../src/db/lock.ts';
import { MongoRunStore } from '../../src/db/run-store.ts';
import { shardKeyTargeting } from '../../src/db/shard-key.ts';
import { openBackup } from '../../src/engine/backup.ts';
import { silentObserver } from '../../src/engine/observer.ts';
import type { RunObserver } from '../../src/engine/ports.ts';
import { restoreRun, runTask, type RunSettings } from '../../src/engine/runner.ts';
import { loadTasks } from '../../src/engine/task-catalog.ts';
import { REPO } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { reachedStep } from '../support/records.ts';

const database = useTestDatabase('targeting');

interface User {
  _id: number;
  name: string;
  region: string;
  score?: number;
  flagged?: boolean;
}

describe('writes that carry the shard key', () => {
  it('skip a document whose shard key changed since the plan (on a cluster it now lives elsewhere), and a restore reports it, never writing it', async () => {
    const db = database.db();
    const users = db.collection<User>('users');
    await users.insertMany(Array.from({ length: 12 }, (_, i) => ({ _id: i, name: `u${i}`, region: i % 2 === 0 ? 'eu' : 'us', score: i })));
    const [flagUsers] = (await loadTasks(join(REPO, 'test', 'fixtures', 'tasks'))).filter((t) => t.task.id === 'flag-users');

    // Two planned users move to another region once the backup is on disk, before the first write.
    let mover: Promise<unknown> = Promise.resolve();
    const observer: RunObserver = {
      ...silentObserver,
      stepFinished: (step) => {
        if (step === 'backup') mover = users.updateMany({ _id: { $in: [3, 8] } }, { $set: { region: 'ap' } });
      },
    };
    const backupDir = mkdtempSync(join(tmpdir(), 'targeting-backups-'));
    const deps = {
      db,
      store: new MongoRunStore(db, new AuditFile(join(mkdtempSync(join(tmpdir(), 'targeting-')), 'audit.jsonl'))),
      lock: new MongoRunLock(db),
      observer,
    };
    const settings = (runId: string): RunSettings => ({
      runId,
      operator: 'test@host',
      target: { uri: 'mongodb://127.0.0.1/', database: database.name },
      dryRun: false,
      backupDir,
      batchSize: 5,
      now: new Date(),
      signal: new AbortController().signal,
      safety: { env: 'development', windows: [], yes: false },
      pace: { beforeBatch: async () => void (await mover), afterBatch: () => undefined, notices: () => [] },
      targeting: shardKeyTargeting(db, ['region']),
    });

    const record = await runTask(deps, flagUsers!, { holdMs: 0 }, settings('targeting-run'));
    expect(record.status).toBe('succeeded');
    expect(reachedStep('plan', record.plan).targeting).toEqual({ fields: ['region'], source: 'flag' });
    expect(record.result).toEqual({ state: 'done', planned: 12, written: 10, skipped: 2, failed: 0, remaining: 0 });
    // Looked up where the backup says they are, the movers are not found: neither written nor lost.
    expect(reachedStep('verify', record.verify)).toMatchObject({ inTargetState: 10, missing: 2 });
    expect(await users.find({ _id: { $in: [3, 8] } }).toArray()).toEqual([
      { _id: 3, name: 'u3', region: 'ap', score: 3 },
      { _id: 8, name: 'u8', region: 'ap', score: 8 },
    ]);

    // One more moves after the run: the restore leaves it as it is, and says so.
    await users.updateOne({ _id: 5 }, { $set: { region: 'ap' } });
    const restore = await restoreRun(deps, await openBackup(backupDir, 'targeting-run'), {
      ...settings('targeting-restore'),
      restoreOf: 'targeting-run',
      force: true,
    });
    expect(restore.status).toBe('succeeded');
    expect(reachedStep('restore', restore.restore)).toMatchObject({ restored: 9, conflicts: 3, forced: 0 });
    expect(await users.findOne({ _id: 5 })).toEqual({ _id: 5, name: 'u5', region: 'ap', flagged: true });
  });
});
