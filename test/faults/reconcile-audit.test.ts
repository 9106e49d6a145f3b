import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import type { AuditLine } from '../../src/db/audit-file.ts';
import { runRecord } from './faults.ts';

/**
 * The state a lost database leaves (its record `running`, this host's audit file with the run's end), set down
 * directly so that every case is cheap: the real thing is in database-lost.test.ts.
 */
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
const database = useTestDatabase('reconcileaudit');

describe('a record its database never saw end', () => {
  it('is completed at the next run with the end the local audit kept, past a line cut short', async () => {
    const db = database.db();
    const stateDir = tempStateDir();
    const startedAt = new Date(Date.now() - 10 * 60_000);
    const endedAt = new Date(startedAt.getTime() + 4_000);
    const lost = {
      _id: 'lost-run',
      kind: 'run',
      status: 'running',
      lockHeld: true,
      startedAt,
      endedAt: null,
      task: { id: 'flag-users', version: 1, mode: 'repeatable', checksum: 'x' },
      result: { state: 'not-reached' },
    };
    await db.collection('users').insertMany([{ name: 'a' }, { name: 'b' }]);
    await db.collection('maintenance_runs').insertOne(lost as never);
    const end = {
      ...lost,
      status: 'failed',
      endedAt,
      durationMs: 4_000,
      error: { step: 'apply', message: 'cannot reach the database', code: 3 },
      result: { state: 'done', planned: 10, written: 4, skipped: 0, failed: 0, remaining: 6 },
    };
    appendFileSync(
      join(stateDir, 'audit.jsonl'),
      `${JSON.stringify({ event: 'completed', at: endedAt.toISOString(), record: end })}\n{"event":"completed","at":"2026-`,
    );

    const result = await runCli(['run', 'flag-users', '--json', '--uri', database.uri(), '--tasks-dir', FIXTURES], {
      env: { PRESENCE_STATE_DIR: stateDir },
    });

    expect(result.code, result.stderr).toBe(0);
    const next = parseJson<TaskRunRecord>(result.stdout);
    expect(next.staleRunsReconciled).toEqual(['lost-run']);
    expect(next.staleRunsClosed).toBeUndefined();
    expect(next.notices.join('\n')).toMatch(/lost-run had ended but their database missed it; completed from the local audit/);
    expect(await runRecord(db, 'lost-run')).toMatchObject({
      status: 'failed',
      endedAt,
      durationMs: 4_000,
      error: end.error,
      result: end.result,
      reconciled: { by: next._id, from: join(stateDir, 'audit.jsonl') },
    });
    const reconciledLines = readFileSync(join(stateDir, 'audit.jsonl'), 'utf8').split('\n').filter((line) => line.includes('"event":"reconciled"'));
    expect(reconciledLines.map((line) => (JSON.parse(line) as AuditLine).record._id)).toEqual(['lost-run']);
  });
});
