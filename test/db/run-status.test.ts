import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { AuditFile } from '../../src/db/audit-file.ts';
import { MongoRunStore } from '../../src/db/run-store.ts';
import { allowedTransitions, RunStatus, type RunRecord, type SteerRequest } from '../../src/engine/run-record.ts';
import { useTestDatabase } from '../support/database.ts';

const database = useTestDatabase('runstatus');
let store: MongoRunStore;

beforeEach(async () => {
  await database.db().dropDatabase();
  store = new MongoRunStore(database.db(), new AuditFile(join(mkdtempSync(join(tmpdir(), 'run-status-')), 'audit.jsonl')));
});

/** Only what the store reads of a record: the status table does not care about the rest. */
function record(status: RunStatus): RunRecord {
  return { _id: 'run-1', status, startedAt: new Date(), endedAt: null, notices: [] } as unknown as RunRecord;
}

const ask = (action: SteerRequest['action']): SteerRequest => ({ action, by: 'ops@host', at: new Date() });

describe('the status table', () => {
  it('a run pauses and resumes any number of times, and ends once', () => {
    expect(allowedTransitions.running).toContain('paused');
    expect(allowedTransitions.paused).toEqual(expect.arrayContaining(['running', 'cancelled', 'interrupted', 'failed']));
    expect(allowedTransitions.paused).not.toContain('succeeded');
    for (const ended of ['succeeded', 'failed', 'refused', 'interrupted', 'cancelled'] as const) {
      expect(allowedTransitions[ended], ended).toEqual([]);
    }
  });

  it('the store refuses a transition the table does not allow', async () => {
    await store.start(record(RunStatus.running));
    await store.complete(record(RunStatus.succeeded));
    await expect(store.complete(record(RunStatus.cancelled))).rejects.toThrow('run run-1 cannot become cancelled: it is succeeded');
    await expect(store.acknowledge('run-1', ask('pause'), RunStatus.succeeded, RunStatus.paused)).rejects.toThrow(
      'run run-1 cannot become paused: it is succeeded',
    );
    expect(await store.request('run-1', ask('cancel'))).toEqual({ accepted: false, status: 'succeeded', pending: null });
    expect((await store.get('run-1'))?.status).toBe('succeeded');
  });

  it('a paused run may be cancelled, not succeed', async () => {
    await store.start(record(RunStatus.running));
    const pause = ask('pause');
    expect(await store.request('run-1', pause)).toEqual({ accepted: true });
    expect(await store.acknowledge('run-1', pause, RunStatus.running, RunStatus.paused)).toBe(true);
    await expect(store.complete(record(RunStatus.succeeded))).rejects.toThrow('cannot become succeeded: it is paused');
    await store.complete(record(RunStatus.cancelled));
    expect((await store.get('run-1'))?.status).toBe('cancelled');
  });

  it('a request replaced before the runner acted on it is not acknowledged: the newer one stays', async () => {
    await store.start(record(RunStatus.running));
    const pause = ask('pause');
    await store.request('run-1', pause);
    const cancel = ask('cancel');
    expect(await store.request('run-1', cancel)).toEqual({ accepted: true });
    expect(await store.acknowledge('run-1', pause, RunStatus.running, RunStatus.paused)).toBe(false);
    expect((await store.get('run-1'))?.request).toMatchObject({ action: 'cancel' });
    expect((await store.get('run-1'))?.requests?.map((request) => request.action)).toEqual(['pause', 'cancel']);
  });
});
