import { activeStatuses, type RunRecord } from '../../engine/run-record.ts';
import { duration, table } from '../../views/format.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { runProgressLine } from '../../views/progress.ts';
import { openSession, targetOf, type TargetOptions } from '../session.ts';

/** Plenty for active runs: one target holds one lock, so more than a handful are stale records. */
const LIMIT = 100;

/** `presence runs`: the running and paused runs of the target, with the progress their runners last wrote. */
export async function runsCommand(options: TargetOptions): Promise<number> {
  const session = await openSession(targetOf(options), options);
  try {
    const records = await session.store.list({ statuses: activeStatuses, limit: LIMIT });
    // A record left active by a runner that died: its lock is free (expired, or its process gone).
    const holder = await session.lock.liveHolder();
    const alive = (record: RunRecord) => !record.lockHeld || holder?.runId === record._id;
    if (outputMode(options.json) === 'json') {
      printJson(records.map((record) => ({ ...activeRun(record), runnerAlive: alive(record) })));
      return 0;
    }
    if (records.length === 0) {
      printLines(['no run is running or paused']);
      return 0;
    }
    const now = Date.now();
    printLines(
      table(
        ['RUN', 'TASK', 'STATUS', 'PROGRESS', 'UPDATED', 'STARTED', 'OPERATOR'],
        records.map((record) => [
          record._id,
          record.migration,
          alive(record)
            ? record.status + (record.request ? ` (${record.request.action} asked)` : '')
            : `${record.status} (runner gone: presence resume ${record._id} continues it)`,
          record.progress ? runProgressLine(record, record.progress) : 'not writing yet (plan or backup)',
          record.progress ? `${duration(now - record.progress.at.getTime())} ago` : '-',
          record.startedAt.toISOString(),
          record.operator,
        ]),
      ),
    );
    return 0;
  } finally {
    await session.close();
  }
}

/** What another host needs to follow a run: its progress as last written, and any request not acted on yet. */
function activeRun(record: RunRecord) {
  return {
    runId: record._id,
    migration: record.migration,
    status: record.status,
    operator: record.operator,
    startedAt: record.startedAt,
    progress: record.progress ?? null,
    request: record.request ?? null,
  };
}
