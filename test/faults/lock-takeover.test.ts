import { hostname } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_CLAIMS_COLLECTION, MongoRunLock } from '../../src/db/lock.ts';
import { thisProcess } from '../../src/db/process-identity.ts';
import { LockHeldError } from '../../src/engine/errors.ts';
import type { RestoreRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { uriFor, useTestDatabase } from '../support/database.ts';
import { lockOf, presenceUsers, runRecord, startedRunIds } from './faults.ts';

/**
 * A dead runner's lock: taken over at once when its holder is a process of this host that is gone, waited
 * out (and the wait said) otherwise, and taken over by exactly one of many racers once it may be.
 * LOCK_RACE_ROUNDS=500 for the long run.
 */
const RACE_ROUNDS = Number(process.env.LOCK_RACE_ROUNDS ?? 40);
const RACERS = 6;
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');

const database = useTestDatabase('locktakeover');
const stateDir = tempStateDir();
// The default lifetime (60 s): a restore that had to wait for the lock to expire could not pass.
const env = { PRESENCE_STATE_DIR: stateDir };

function presence(...args: string[]) {
  return runCli([...args, '--uri', database.uri()], { env });
}

async function forgeLock(fields: Record<string, unknown>) {
  const locks = database.db().collection('maintenance_locks');
  await locks.deleteMany({});
  const now = Date.now();
  await locks.insertOne({ _id: 'maintenance' as never, acquiredAt: new Date(now), expiresAt: new Date(now + 45_000), ...fields });
}

describe('a crashed run’s lock', () => {
  it('does not hold up a restore: a holder SIGKILLed on this host is taken over at once, audited', async () => {
    const db = database.db();
    await db.collection('users').insertMany(presenceUsers(20, new Date(), { online: () => true }));
    const first = parseJson<TaskRunRecord>((await presence('stale', '--json')).stdout);
    expect(first.status).toBe('succeeded');

    // A second run, killed while its plan is held open: it dies holding the lock.
    const known = new Set(startedRunIds(stateDir));
    const killed = await runCli(['run', 'flag-users', '--param', 'holdMs=20000', '--uri', database.uri(), '--tasks-dir', FIXTURES], {
      env,
      onStdout: (text, child) => {
        if (text.includes('❯ plan')) child.kill('SIGKILL');
      },
    });
    expect(killed.signal).toBe('SIGKILL');
    const deadRun = startedRunIds(stateDir).find((id) => !known.has(id))!;
    const left = await lockOf(db);
    expect(left?.runId).toBe(deadRun);
    expect(left!.expiresAt.getTime()).toBeGreaterThan(Date.now() + 30_000);

    const startedAt = Date.now();
    const restore = await presence('restore', first._id, '--json');
    expect(restore.code, restore.stderr).toBe(0);
    expect(Date.now() - startedAt).toBeLessThan(20_000);
    const restored = parseJson<RestoreRecord>(restore.stdout);
    expect(restored.lockTakeover).toMatchObject({ previousRunId: deadRun, reason: 'holder-gone' });
    expect(restored.lockTakeover?.detail).toMatch(new RegExp(`its process \\d+ on ${hostname()} no longer exists`));
    expect(restored.notices.join('\n')).toContain(`took over the lock held by run ${deadRun}`);
    expect(restored.staleRunsClosed).toContain(deadRun);
    // Audited in the database as well as in the output.
    expect((await runRecord(db, restored._id))?.lockTakeover).toMatchObject({ previousRunId: deadRun, reason: 'holder-gone' });
    expect(await runRecord(db, deadRun)).toMatchObject({ status: 'interrupted' });
    expect(await lockOf(db)).toBeNull();
    expect(await db.collection(LOCK_CLAIMS_COLLECTION).countDocuments()).toBe(0);
  });

  it('held by a process on another host: refused, naming how long to wait', async () => {
    await forgeLock({ runId: 'far-run', owner: 'ops@far-host', host: 'far-host', pid: 999_999, bootId: thisProcess().bootId });
    const result = await presence('cleanup');
    expect(result.code).toBe(4);
    expect(result.stdout + result.stderr).toMatch(/another run holds the lock: run far-run by ops@far-host, expires \S+ \(retry in (4[0-5]|3\d) s\)/);
    expect((await lockOf(database.db()))?.runId).toBe('far-run');
  });

  it('held by a live process of this host, or written without its process: refused, not taken over', async () => {
    const here = thisProcess();
    // This very test process: alive.
    await forgeLock({ runId: 'live-run', owner: 'ops@here', ...here });
    const live = await presence('cleanup');
    expect(live.code).toBe(4);
    expect(live.stdout + live.stderr).toMatch(/another run holds the lock: run live-run by ops@here/);

    // An earlier version's lock names no process: nothing says its holder is gone.
    await forgeLock({ runId: 'old-run', owner: 'ops@here' });
    const old = await presence('cleanup');
    expect(old.code).toBe(4);
    expect(old.stdout + old.stderr).toMatch(/another run holds the lock: run old-run by ops@here/);
    await database.db().collection('maintenance_locks').deleteMany({});
  });
});

describe('racers on a lock that may be taken over', () => {
  const clients: MongoClient[] = [];
  beforeAll(async () => {
    for (let i = 0; i < RACERS; i++) clients.push(await MongoClient.connect(uriFor(database.name)));
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
  });

  for (const kind of ['expired', 'holder-gone'] as const) {
    it(`${kind}: exactly one of ${RACERS} takes it over, every one of ${RACE_ROUNDS} rounds`, async () => {
      const locks = clients.map((client) => new MongoRunLock(client.db(database.name), 60_000));
      const tally: Record<number, number> = {};
      for (let round = 0; round < RACE_ROUNDS; round++) {
        const past = new Date(Date.now() - 120_000);
        const dead = `dead-${kind}-${round}`;
        // A holder whose process is gone: a PID no process has (beyond Linux's pid_max) on this host.
        const process = kind === 'holder-gone' ? { ...thisProcess(), pid: 2 ** 23 } : {};
        await forgeLock({ runId: dead, owner: 'ops@crashed', ...process, ...(kind === 'expired' && { acquiredAt: past, expiresAt: past }) });
        const outcomes = await Promise.allSettled(locks.map((lock, i) => lock.acquire({ runId: `racer-${round}-${i}`, owner: 'ops@here' })));
        const winners = outcomes.flatMap((outcome, i) => (outcome.status === 'fulfilled' ? [i] : []));
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') expect(outcome.reason, `round ${round}`).toBeInstanceOf(LockHeldError);
        }
        tally[winners.length] = (tally[winners.length] ?? 0) + 1;
        expect(winners, `round ${round}: winners`).toHaveLength(1);
        const winner = outcomes[winners[0]!] as PromiseFulfilledResult<Awaited<ReturnType<MongoRunLock['acquire']>>>;
        expect(winner.value.takeover).toMatchObject({ previousRunId: dead, reason: kind });
        expect((await lockOf(database.db()))?.runId, `round ${round}: the lock names the winner`).toBe(`racer-${round}-${winners[0]}`);
      }
      console.log(`lock takeover race (${kind}): winners per round ${JSON.stringify(tally)}`);
      expect(await database.db().collection(LOCK_CLAIMS_COLLECTION).countDocuments()).toBe(0);
      await database.db().collection('maintenance_locks').deleteMany({});
    }, RACE_ROUNDS * 5_000);
  }
});
