import { describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { presenceUsers } from '../faults/faults.ts';

const database = useTestDatabase('lastrunmetrics');
const stateDir = tempStateDir();

function presence(...args: string[]) {
  return runCli([...args, '--uri', database.uri()], { env: { PRESENCE_STATE_DIR: stateDir } });
}

describe('the last-run metrics', () => {
  it('stay those of the task’s own last run after a restore of it', async () => {
    await database.db().collection('users').insertMany(presenceUsers(30, new Date(), { online: () => true }));
    const stale = await presence('stale', '--json');
    expect(stale.code, stale.stderr).toBe(0);
    const run = parseJson<TaskRunRecord>(stale.stdout);
    const written = run.result.state === 'done' ? run.result.written : 0;
    expect(written).toBeGreaterThan(0);

    const restore = await presence('restore', run._id);
    expect(restore.code, restore.stderr).toBe(0);

    const stored = await database.db().collection<TaskRunRecord>('maintenance_runs').findOne({ _id: run._id });
    const metrics = (await presence('status', '--format', 'prometheus')).stdout;
    expect(metrics).toContain(`presence_last_run_written_documents{task="presence-stale"} ${written}\n`);
    expect(metrics).toContain(`presence_last_run_timestamp_seconds{task="presence-stale"} ${stored!.startedAt.getTime() / 1000}\n`);
    expect(metrics).toContain('presence_last_run_status{task="presence-stale",status="succeeded"} 1\n');
  });
});
