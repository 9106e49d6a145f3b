import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/engine/run-record.ts';
import { runCli, tempStateDir, type CliResult } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { until } from '../support/until.ts';
import { lockOf, MINUTE, presenceUsers, startedRunIds } from './faults.ts';

/**
 * `stale --scheduled` on three hosts at once, for availability: each interval
 * exactly one of them runs, runs never overlap, and when the one running is
 * killed another takes over once its lock expires, and says so in the audit.
 */
// Six seconds: a run (about 2 s at this pace, more on a loaded machine) ends well inside its interval.
const INTERVAL_MINUTES = 0.1;
const INTERVAL_MS = INTERVAL_MINUTES * MINUTE;
const LOCK_TTL_MS = 1500;
const SCHEDULERS = 3;
const USERS = 60;

const database = useTestDatabase('schedulers');

interface Scheduler {
  stateDir: string;
  done: Promise<CliResult>;
  child(): ChildProcess | undefined;
}

function startScheduler(): Scheduler {
  const stateDir = tempStateDir();
  let child: ChildProcess | undefined;
  // A slow write pace: a run lasts long enough to be killed in the middle of it.
  const done = runCli(['stale', '--scheduled', '--interval', String(INTERVAL_MINUTES), '--rate', '40', '--batch-size', '10', '--uri', database.uri()], {
    env: { PRESENCE_STATE_DIR: stateDir, PRESENCE_LOCK_TTL_MS: String(LOCK_TTL_MS) },
    timeoutMs: 180_000,
    onStdout: (_text, running) => (child = running),
  });
  return { stateDir, done, child: () => child };
}

function staleRuns(): Promise<RunRecord[]> {
  return database.db().collection<RunRecord>('maintenance_runs').find({ 'task.id': 'presence-stale' }).sort({ startedAt: 1 }).toArray();
}

const slotOf = (at: Date) => Math.floor(at.getTime() / INTERVAL_MS);

describe('several schedulers on one database', () => {
  it('run exactly once per interval, never overlap, and take over from a killed holder after its lock expires', async () => {
    const users = database.db().collection('users');
    await users.insertMany(presenceUsers(USERS, new Date(), { online: () => true, stale: (n) => n % 2 === 0 }));
    // Users keep going stale (online, last seen long ago, each time a new time): every run has work to do.
    let n = 0;
    const ghosts = setInterval(() => {
      n++;
      void users
        .updateMany({ isOnline: false }, { $set: { isOnline: true, lastSeen: new Date(Date.now() - 2 * 60 * MINUTE - n) } })
        .catch(() => undefined);
    }, 500);

    const schedulers = Array.from({ length: SCHEDULERS }, startScheduler);
    try {
      const watchFrom = new Date();
      await sleep(4 * INTERVAL_MS);

      // Kill whichever scheduler holds the lock, in the middle of its run.
      let victimRun = '';
      await until('a run holding the lock', async () => {
        const lock = await lockOf(database.db());
        const runs = lock ? await staleRuns() : [];
        const run = runs.find((record) => record._id === lock?.runId);
        if (run === undefined || Date.now() - run.startedAt.getTime() > 600 || run.status !== 'running') return false;
        victimRun = run._id;
        return true;
      });
      const victim = schedulers.find((scheduler) => startedRunIds(scheduler.stateDir).includes(victimRun))!;
      victim.child()!.kill('SIGKILL');
      const killedAt = new Date();

      await sleep(4 * INTERVAL_MS);
      for (const scheduler of schedulers) if (scheduler !== victim) scheduler.child()!.kill('SIGTERM');
      const results = await Promise.all(schedulers.map((scheduler) => scheduler.done));
      const watchUntil = new Date();

      expect((await results[schedulers.indexOf(victim)]!).signal).toBe('SIGKILL');
      for (const [index, result] of results.entries()) {
        if (schedulers[index] !== victim) expect(result.code, result.stderr).toBe(0);
      }

      const runs = await staleRuns();
      const killed = runs.find((run) => run._id === victimRun)!;
      expect(killed.status, 'the killed run, closed by the next').toBe('interrupted');

      // Exactly one run in every interval the schedulers were all up for; then one per interval from the other two.
      const slots = new Map<number, RunRecord[]>();
      for (const run of runs) slots.set(slotOf(run.startedAt), [...(slots.get(slotOf(run.startedAt)) ?? []), run]);
      // A host claims an interval, then starts its run: on a loaded machine the run's start can fall just past the
      // interval's end. Such a run is the previous interval's when that interval has none and this one has two.
      for (const [slot, inSlot] of [...slots.entries()].sort(([a], [b]) => a - b)) {
        const late = inSlot[0]!;
        if (inSlot.length === 2 && (slots.get(slot - 1) ?? []).length === 0 && late.startedAt.getTime() - slot * INTERVAL_MS < LOCK_TTL_MS) {
          slots.set(slot - 1, [late]);
          slots.set(slot, inSlot.slice(1));
        }
      }
      const first = slotOf(watchFrom) + 1;
      const last = slotOf(watchUntil) - 1;
      expect(last - first).toBeGreaterThanOrEqual(6);
      for (let slot = first; slot <= last; slot++) {
        const inSlot = slots.get(slot) ?? [];
        expect(
          inSlot.map((run) => `${run._id} ${run.status}`),
          `interval starting ${new Date(slot * INTERVAL_MS).toISOString()}`,
        ).toHaveLength(1);
      }
      // Never two at once: each run that got the lock ends (the killed one when it was killed) before the next starts.
      const endOf = (run: RunRecord) => (run._id === victimRun ? killedAt : run.endedAt!);
      const ran = runs.filter((run) => run.status !== 'refused');
      for (const [index, run] of ran.entries()) {
        if (index === 0) continue;
        const previous = ran[index - 1]!;
        expect(endOf(previous).getTime(), `${previous._id} overlaps ${run._id}`).toBeLessThanOrEqual(run.startedAt.getTime());
      }

      // The interval is claimed first, so a host is refused only when the previous interval's run, started late on a
      // loaded machine, still holds the lock: then the refusal names that run, and that run was running.
      for (const refused of runs.filter((run) => run.status === 'refused')) {
        const holderId = /another run holds the lock: run (\S+) by/.exec(refused.error?.message ?? '')?.[1];
        const holder = runs.find((run) => run._id === holderId);
        expect(holder, `${refused._id} refused by a run that exists: ${refused.error?.message}`).toBeDefined();
        expect(holder!.startedAt.getTime()).toBeLessThanOrEqual(refused.startedAt.getTime());
        expect(endOf(holder!).getTime()).toBeGreaterThanOrEqual(refused.startedAt.getTime());
        expect(slotOf(holder!.startedAt), `${holder!._id} ran in the interval before`).toBe(slotOf(refused.startedAt) - 1);
      }

      // The next run took the dead run's lock over and closed its record, and says so.
      const after = ran.filter((run) => run.startedAt > killedAt);
      const takeover = after[0]!;
      expect(takeover.lockTakeover?.previousRunId).toBe(victimRun);
      expect(takeover.staleRunsClosed).toContain(victimRun);
      expect(takeover.status).toBe('succeeded');
      // SIGTERM may catch the last one mid-run: it stops after its current batch, interrupted.
      const statuses = after.map((run) => run.status);
      expect(statuses.slice(0, -1).every((status) => status === 'succeeded'), statuses.join(' ')).toBe(true);
      expect(['succeeded', 'interrupted']).toContain(statuses.at(-1));
      expect(takeover.startedAt.getTime() - killedAt.getTime()).toBeLessThan(INTERVAL_MS + LOCK_TTL_MS);
    } finally {
      clearInterval(ghosts);
      for (const scheduler of schedulers) scheduler.child()?.kill('SIGKILL');
    }
  }, 180_000);
});
