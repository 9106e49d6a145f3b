import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { reachedStep } from '../support/records.ts';
import { REPO, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';

const database = useTestDatabase('locklost');
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');

describe('the lock', () => {
  it('stops a run that lost its lock to another runner, before it writes on', async () => {
    const users = database.db().collection('users');
    await users.insertMany(Array.from({ length: 40 }, (_, i) => ({ name: `u${i}` })));
    let stolen = false;
    const result = await runCli(
      ['run', 'flag-users', '--rate', '10', '--batch-size', '2', '--uri', database.uri(), '--tasks-dir', FIXTURES],
      {
        env: { PRESENCE_STATE_DIR: tempStateDir(), PRESENCE_LOCK_TTL_MS: '800' },
        onStdout: (text) => {
          if (!stolen && /backup: /.test(text)) {
            stolen = true;
            // Another runner takes the lock over, as if ours had expired.
            void database.db().collection('maintenance_locks').updateOne({}, { $set: { runId: 'usurper', owner: 'other@host' } });
          }
        },
      },
    );

    expect(result.code).toBe(1);
    const [runId] = /run (\d{8}T\d{6}Z-[0-9a-f]{6})/.exec(result.stdout)!.slice(1);
    const record = await database.db().collection<TaskRunRecord>('maintenance_runs').findOne({ _id: runId });
    expect(record).toMatchObject({ status: 'failed', error: { step: 'apply' } });
    expect(record?.error?.message).toMatch(/lost the lock: another runner took it over; stopped writing/);
    const counts = reachedStep('apply', record!.result);
    const { written, remaining, planned } = counts;
    expect(remaining).toBeGreaterThan(0);
    expect(await users.countDocuments({ flagged: true })).toBe(written);
    expect(written + remaining + counts.skipped + counts.failed).toBe(planned);
    // The usurper's lock is left alone.
    expect(await database.db().collection('maintenance_locks').findOne({})).toMatchObject({ runId: 'usurper' });
  });
});
