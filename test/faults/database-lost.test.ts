import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/db/sandbox.ts';
import { openBackup } from '../../src/engine/backup.ts';
import type { RestoreRecord, RunRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { reachedStep } from '../support/records.ts';
import { changedIds, snapshot } from '../presence/snapshot.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum } from '../support/database.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { until } from '../support/until.ts';
import { auditLines, lockExpired, presenceUsers } from './faults.ts';

/**
 * The database goes away in the middle of apply: the engine is killed, or the
 * network between tool and engine is cut or stalls (a loopback proxy). The
 * run must end on its own, say how far it got, keep its audit record locally,
 * and leave a backup that restores everything once the database is back.
 * The engine here is the test's own (its data directory survives a restart);
 * the tool always reaches it through the proxy, whose address stays the same.
 */
const DATABASE = 'lost';
const USERS = 150;
const BATCH = 10;
const LOCK_TTL_MS = 2000;
/** The driver notices a silent server within its heartbeat (10 s) and connect timeout (5 s): far below this. */
const BOUND_MS = 90_000;

const dataDir = mkdtempSync(join(tmpdir(), 'presence-lost-engine-'));
const stateDir = tempStateDir();
const env = { PRESENCE_STATE_DIR: stateDir, PRESENCE_LOCK_TTL_MS: String(LOCK_TTL_MS) };
let engine: Sandbox;
let proxy: TcpProxy;
let pristine: string;

/** A direct connection to the engine as it is now (not through the proxy), for the test's own reads. */
async function withEngine<T>(use: (db: Db) => Promise<T>): Promise<T> {
  const client = await MongoClient.connect(`${engine.uri}${DATABASE}`);
  try {
    return await use(client.db(DATABASE));
  } finally {
    await client.close();
  }
}

async function restartEngine(): Promise<void> {
  await engine.kill();
  engine = await startSandbox({ dataDir });
  proxy.retarget(engine.uri);
}

beforeAll(async () => {
  engine = await startSandbox({ dataDir });
  proxy = await startTcpProxy(`${engine.uri}${DATABASE}`);
  await withEngine(async (db) => {
    await db.collection('users').insertMany(presenceUsers(USERS, new Date()));
    pristine = await collectionChecksum(db, 'users');
  });
});

afterAll(async () => {
  await proxy?.close();
  await engine?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

type Fault = 'engine killed' | 'connection cut' | 'connection stalls';

/** The fault in force, until healed. */
let broken: Fault | undefined;
let disarm = () => {};

/** Breaks the database when the run sends its `nth` write batch; returns when that happened. */
function breakOnWrite(fault: Fault, nth: number): () => number | undefined {
  let writes = 0;
  let brokenAt: number | undefined;
  disarm = proxy.onCommand((seen) => {
    if (seen.command !== 'update' || seen.collection !== 'users' || ++writes !== nth) return;
    brokenAt = Date.now();
    broken = fault;
    if (fault === 'connection cut') proxy.set('refuse');
    else if (fault === 'connection stalls') proxy.set('stall');
    // The engine dies with this batch in flight: the run cannot know whether it was written.
    else void engine.kill();
  });
  return () => brokenAt;
}

async function heal(): Promise<void> {
  disarm();
  if (broken === 'engine killed') await restartEngine();
  broken = undefined;
  proxy.set('pass');
}

// Whatever a test found, the next one starts with the database back.
afterEach(heal);

describe('the database lost during apply', () => {
  const faults: Fault[] = ['connection cut', 'engine killed', 'connection stalls'];

  it.each(faults)(
    '%s: the run ends on its own with its counts, the local audit keeps it, and its backup restores everything',
    async (fault) => {
      const before = await withEngine((db) => snapshot(db, 'users'));
      const brokenAt = breakOnWrite(fault, 4);
      const started = Date.now();
      const result = await runCli(['cleanup', '--json', '--batch-size', String(BATCH), '--uri', proxy.uri], {
        env,
        timeoutMs: BOUND_MS + 30_000,
      });
      const endedAt = Date.now();
      expect(brokenAt(), 'the fault happened during apply').toBeDefined();
      expect(endedAt - started, `ended within ${BOUND_MS} ms`).toBeLessThan(BOUND_MS);
      expect(result.signal).toBeNull();
      expect(result.code, result.stderr).toBe(3);

      const record = parseJson<TaskRunRecord>(result.stdout);
      expect(['failed', 'interrupted']).toContain(record.status);
      expect(record.error?.step).toBe('apply');
      const counts = reachedStep('apply', record.result);
      expect(counts.written + counts.skipped + counts.failed + counts.remaining).toBe(counts.planned);
      expect(counts.written).toBeGreaterThanOrEqual(3 * BATCH);
      expect(counts.remaining).toBeGreaterThan(0);

      // The database could not take the record's end: this host's audit file has it.
      const completed = auditLines(stateDir).find((line) => line.event === 'completed' && line.record._id === record._id);
      expect(completed?.record).toMatchObject({ status: record.status, result: counts });

      const manifest = await openBackup(join(stateDir, 'backups'), record._id);
      expect(manifest.count).toBe(counts.planned);

      await heal();
      // Only backed-up users changed, and no more than the batches sent.
      const after = await withEngine((db) => snapshot(db, 'users'));
      const changed = changedIds(before, after);
      expect(changed.length).toBeGreaterThanOrEqual(counts.written);
      expect(changed.length).toBeLessThanOrEqual(counts.written + BATCH);

      const leftLock = await withEngine((db) => lockExpired(db));
      const storedBefore = await withEngine((db) => db.collection<RunRecord>('maintenance_runs').findOne({ _id: record._id }));
      const restore = await runCli(['restore', record._id, '--json', '--uri', proxy.uri], { env });
      expect(restore.code, restore.stderr).toBe(0);
      const restored = parseJson<RestoreRecord>(restore.stdout);
      // The database's record, left running, now ends as this host's audit file says the run ended.
      expect(storedBefore?.status).toBe('running');
      expect(restored.staleRunsReconciled).toEqual([record._id]);
      expect(restored.staleRunsClosed).toBeUndefined();
      const storedAfter = await withEngine((db) => db.collection<RunRecord>('maintenance_runs').findOne({ _id: record._id }));
      expect(storedAfter).toMatchObject({ status: record.status, error: record.error, result: counts, reconciled: { by: restored._id } });
      // The end the audit file kept (its dates are text there), not the time it was reconciled.
      expect(storedAfter?.endedAt?.toISOString()).toBe(String(completed?.record.endedAt));
      expect(auditLines(stateDir).filter((line) => line.event === 'reconciled').map((line) => line.record._id)).toContain(record._id);
      expect(restored.restore).toMatchObject({ conflicts: 0, remaining: 0 });
      expect(reachedStep('apply', restored.restore).restored).toBe(changed.length);
      if (leftLock?.runId === record._id) expect(restored.lockTakeover?.previousRunId).toBe(record._id);
      expect(await withEngine((db) => collectionChecksum(db, 'users'))).toBe(pristine);
    },
    BOUND_MS + 60_000,
  );

  it('a database silent for longer than the lock lives: the run stops writing, even though every held reply comes later', async () => {
    const holdMs = 2 * LOCK_TTL_MS;
    let writes = 0;
    let releasedAt = Number.POSITIVE_INFINITY;
    let writesAfterRelease = 0;
    disarm = proxy.onCommand((seen) => {
      if (seen.command !== 'update' || seen.collection !== 'users') return;
      if (Date.now() > releasedAt) writesAfterRelease++;
      if (++writes !== 4) return;
      // Nothing is lost: the engine answers everything once the network passes again.
      proxy.set('hold');
      setTimeout(() => {
        releasedAt = Date.now();
        proxy.set('pass');
      }, holdMs);
    });
    const result = await runCli(['cleanup', '--json', '--batch-size', String(BATCH), '--uri', proxy.uri], { env, timeoutMs: BOUND_MS });
    disarm();

    expect(result.code, result.stderr).toBe(1);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record).toMatchObject({ status: 'failed', error: { step: 'apply', message: expect.stringMatching(/lost the lock: it could not be renewed in time/) } });
    // Another runner could have taken the lock over meanwhile: not one more batch went out.
    expect(writesAfterRelease).toBe(0);
    const counts = reachedStep('apply', record.result);
    expect(counts.remaining).toBeGreaterThan(0);
    expect(counts.written + counts.skipped + counts.failed + counts.remaining).toBe(counts.planned);

    await withEngine((db) => lockExpired(db));
    const restore = await runCli(['restore', record._id, '--json', '--uri', proxy.uri], { env });
    expect(restore.code, restore.stderr).toBe(0);
    expect(await withEngine((db) => collectionChecksum(db, 'users'))).toBe(pristine);
  }, BOUND_MS + 30_000);

  it('a scheduled stale survives the engine going away and runs again when it is back', async () => {
    const lines: string[] = [];
    let child: ChildProcess | undefined;
    const scheduler = runCli(['stale', '--scheduled', '--interval', '0.05', '--uri', proxy.uri], {
      env,
      timeoutMs: 150_000,
      onStdout: (text, running) => {
        child = running;
        lines.splice(0, lines.length, ...text.split('\n'));
      },
    });
    const runsSince = (since: Date) =>
      withEngine((db) =>
        db.collection<RunRecord>('maintenance_runs').countDocuments({ 'task.id': 'presence-stale', status: 'succeeded', startedAt: { $gte: since } }),
      );
    const waitFor = (what: string, ok: () => Promise<boolean> | boolean) =>
      until(what, ok, { withinMs: 40_000, everyMs: 200, detail: () => lines.join('\n') });

    const start = new Date();
    await waitFor('a first run', async () => (await runsSince(start)) >= 1);
    await engine.kill();
    await waitFor('a run that could not reach the database', () => lines.some((line) => /could not run|failed/.test(line)));
    await sleep(4000);
    const back = new Date();
    engine = await startSandbox({ dataDir });
    proxy.retarget(engine.uri);
    await waitFor('a run after the engine came back', async () => (await runsSince(back)) >= 1);

    await sleep(100);
    const stopped = await Promise.race([scheduler, sleep(1000).then(() => undefined)]);
    expect(stopped, 'the scheduler is still running').toBeUndefined();
    // Stopped the way a service manager stops it.
    child!.kill('SIGTERM');
    const result = await scheduler;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/schedule stopped/);
  }, 150_000);
});

