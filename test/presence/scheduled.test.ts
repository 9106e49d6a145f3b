import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { outcomeOf, type TaskRunRecord } from '../../src/engine/run-record.ts';
import { runCli, tempStateDir, type CliResult } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { until } from '../support/until.ts';
import { population, PRESENCE_CASES, staleIds, writeConfig, type PresenceCase } from './population.ts';

const database = useTestDatabase('presencesched');
const MINUTE = 60_000;

/** 0.02 minutes: a run every 1.2 s. */
const INTERVAL = '0.02';

async function seed(presence: PresenceCase) {
  const pop = population(presence, new Date());
  const users = database.db().collection(presence.collection);
  await users.deleteMany({});
  await users.insertMany(pop.users);
  return pop;
}

/** Starts a scheduler; the returned child is there once the process has printed something. */
function scheduler(presence: PresenceCase, uri: string, stateDir: string, env: NodeJS.ProcessEnv = {}) {
  let child: ChildProcess | undefined;
  let output = '';
  const done = runCli(
    ['stale', '--scheduled', `--interval=${INTERVAL}`, '--minutes=60', '--uri', uri, '--config', writeConfig(stateDir, presence)],
    {
      env: { PRESENCE_STATE_DIR: stateDir, ...env },
      timeoutMs: 90_000,
      onStdout: (text, process) => {
        child = process;
        output = text;
      },
    },
  );
  return { done, output: () => output, stop: (signal: NodeJS.Signals) => child?.kill(signal) };
}

/** A scheduler's runs come 1.2 s apart, on a machine that may be busy. */
const within = (what: string, condition: () => Promise<boolean> | boolean) => until(what, condition, { withinMs: 60_000 });

function staleRuns(): Promise<TaskRunRecord[]> {
  return database
    .db()
    .collection<TaskRunRecord>('maintenance_runs')
    .find({ 'task.id': 'presence-stale', dryRun: false })
    .sort({ startedAt: 1 })
    .toArray();
}

describe.each(PRESENCE_CASES)('presence stale --scheduled ($name)', (presence) => {
  it('runs an audited run every interval and stops cleanly on SIGTERM', async () => {
    await database.db().collection('maintenance_runs').deleteMany({});
    const pop = await seed(presence);
    const users = database.db().collection(presence.collection);
    const schedule = scheduler(presence, database.uri(), tempStateDir());

    await within('the first run succeeded', async () => (await staleRuns()).some((run) => run.status === 'succeeded'));
    // A user goes stale between two runs: a later run finds it, with its own plan.
    await users.insertOne({
      _id: 'late-stale' as never,
      [presence.onlineField]: presence.onlineValues[0],
      [presence.lastSeenField]: new Date(Date.now() - 90 * MINUTE),
    });
    await within('a later run set the new stale user offline', async () => {
      const late = await users.findOne({ _id: 'late-stale' as never });
      return late?.[presence.onlineField] === presence.offlineValue;
    });
    schedule.stop('SIGTERM');
    const result: CliResult = await schedule.done;

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\[schedule\] SIGTERM received: stopping the schedule/);
    expect(result.stdout).toMatch(/\[schedule\] schedule stopped\n$/);
    const runs = await staleRuns();
    expect(runs.length).toBeGreaterThanOrEqual(2);
    const finished = runs.filter((run) => run.status !== 'interrupted');
    expect(finished.every((run) => run.status === 'succeeded')).toBe(true);
    const written = finished.reduce((sum, run) => sum + (outcomeOf(run.result)?.written ?? 0), 0);
    expect(written).toBe(staleIds(pop, presence, 60).length + 1);
    expect(new Set(runs.map((run) => run._id)).size).toBe(runs.length);
  });
});

describe('presence stale --scheduled against a failing world', () => {
  const presence = PRESENCE_CASES[0]!;

  it('skips its turns while another runner holds the lock, and takes over once that lock expires', async () => {
    await database.db().collection('maintenance_runs').deleteMany({});
    await seed(presence);
    const locks = database.db().collection('maintenance_locks');
    await locks.insertOne({
      _id: 'maintenance' as never,
      runId: 'other-run',
      owner: 'other@host',
      acquiredAt: new Date(),
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    const schedule = scheduler(presence, database.uri(), tempStateDir());

    await within('two turns were refused', async () => (await staleRuns()).filter((run) => run.status === 'refused').length >= 2);
    // The other runner dies: its lock expires.
    const expiredAt = new Date();
    await locks.updateOne({ _id: 'maintenance' as never }, { $set: { expiresAt: expiredAt } });
    await within('a run succeeded after the lock expired', async () => (await staleRuns()).some((run) => run.status === 'succeeded'));
    schedule.stop('SIGINT');
    const result = await schedule.done;

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\[schedule\] run 1 refused \(another run holds the lock: run other-run by other@host.*\): another runner has this interval/);
    const runs = await staleRuns();
    const refused = runs.filter((run) => run.status === 'refused');
    const succeeded = runs.find((run) => run.status === 'succeeded')!;
    expect(refused.every((run) => run.startedAt <= expiredAt)).toBe(true);
    expect(succeeded.startedAt >= expiredAt).toBe(true);
    expect(succeeded.lockTakeover).toMatchObject({ previousRunId: 'other-run', previousOwner: 'other@host' });
  });

  it('survives a lost database connection: logs it, waits, and runs again once the database is back', async () => {
    await database.db().collection('maintenance_runs').deleteMany({});
    await seed(presence);
    const proxy = await startTcpProxy(database.uri());
    try {
      // A run cut off mid-way leaves its lock behind: a short lifetime lets the next run take it over soon.
      const schedule = scheduler(presence, proxy.uri, tempStateDir(), { PRESENCE_LOCK_TTL_MS: '2000' });
      await within('the first run succeeded', async () => (await staleRuns()).some((run) => run.status === 'succeeded'));
      await within('the first run was reported', () => /presence-stale@1: succeeded/.test(schedule.output()));
      proxy.set('refuse');
      await within('the scheduler reported the lost database', () => /could not run: cannot reach the database/.test(schedule.output()));
      proxy.set('pass');
      await within('a run succeeded again', async () => (await staleRuns()).filter((run) => run.status === 'succeeded').length >= 2);
      schedule.stop('SIGTERM');
      const result = await schedule.done;

      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/\[schedule\] run \d+ could not run: cannot reach the database at mongodb:\/\/127\.0\.0\.1:\d+\/.*; retrying at the next interval/);
    } finally {
      await proxy.close();
    }
  }, 120_000);
});
