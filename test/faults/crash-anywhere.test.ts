import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackups, openBackup } from '../../src/engine/backup.ts';
import type { RestoreRecord, RunRecord } from '../../src/engine/run-record.ts';
import { reachedStep } from '../support/records.ts';
import { parseJson, REPO, runCli, tempStateDir, type CliResult } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { auditLines, lockExpired, oneCleanLine, presenceUsers, randomSource, runRecord, startedRunIds } from './faults.ts';

/**
 * SIGKILL at a random moment of a real run, over and over: after each kill,
 * the next run finds what the dead one left (its `running` record, its lock)
 * and takes over, and restoring the killed run brings the collection back to
 * the checksum it had before. FAULT_ROUNDS=200 for the long run; FAULT_SEED
 * replays one.
 */
const ROUNDS = Number(process.env.FAULT_ROUNDS ?? 20);
const USERS = 120;
const LOCK_TTL_MS = 1500;
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');

const database = useTestDatabase('crash');
const stateDir = tempStateDir();
const backupDir = join(stateDir, 'backups');
const random = randomSource();

/** Where a kill is aimed: the step whose start line it waits for, then up to `withinMs` more. */
const AIMS = [
  { step: 'connect', withinMs: 50, weight: 1 },
  { step: 'lock', withinMs: 50, weight: 1 },
  { step: 'plan', withinMs: 150, weight: 2 },
  { step: 'backup', withinMs: 60, weight: 3 },
  { step: 'apply', withinMs: 800, weight: 5 },
  { step: 'verify', withinMs: 150, weight: 2 },
  { step: 'audit', withinMs: 30, weight: 1 },
] as const;
const WEIGHTED = AIMS.flatMap((aim) => Array.from({ length: aim.weight }, () => aim));

const TASKS = [
  { name: 'cleanup', args: ['cleanup'] },
  { name: 'flag-users', args: ['run', 'flag-users', '--tasks-dir', FIXTURES] },
] as const;

const env = { PRESENCE_STATE_DIR: stateDir, PRESENCE_LOCK_TTL_MS: String(LOCK_TTL_MS) };
const tally = {
  rounds: 0,
  kills: 0,
  finished: 0,
  killedIn: {} as Record<string, number>,
  backups: { complete: 0, incomplete: 0, none: 0 },
  restoredDocuments: 0,
  takeovers: 0,
  staleRecordsClosed: 0,
  staleRecordsReconciled: 0,
};

let pristine: string;
beforeAll(async () => {
  await database.db().collection('users').insertMany(presenceUsers(USERS, new Date()));
  pristine = await collectionChecksum(database.db(), 'users');
});

afterAll(() => {
  console.log(`crash-anywhere (seed ${random.seed}): ${JSON.stringify({ ...tally, users: USERS })}`);
});

/** Runs the task and SIGKILLs it once the aimed step has started and a random delay has passed. */
function victim(task: (typeof TASKS)[number], aim: (typeof AIMS)[number], delayMs: number, batchSize: number): Promise<CliResult> {
  let armed = false;
  return runCli([...task.args, '--uri', database.uri(), '--batch-size', String(batchSize)], {
    env,
    onStdout: (text, child) => {
      if (armed || !text.includes(`❯ ${aim.step}`)) return;
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), delayMs);
    },
  });
}

/** The step the run had last started when it died, from its own output. */
function lastStep(stdout: string): string {
  const started = [...stdout.matchAll(/^❯ (\w+)/gm)].map((match) => match[1]!);
  return started.at(-1) ?? 'startup';
}

describe('a run killed at any moment loses nothing', () => {
  it(`${ROUNDS} random SIGKILLs over plan, backup, apply and verify: takeover reported, restore back to the pre-run checksum`, async () => {
    const db = database.db();
    for (let round = 0; round < ROUNDS; round++) {
      const task = TASKS[round % TASKS.length]!;
      const aim = random.pick(WEIGHTED);
      const delayMs = random.below(aim.withinMs);
      const batchSize = random.pick([5, 10, 25, 50]);
      const context = `round ${round} (seed ${random.seed}): ${task.name}, kill ${delayMs} ms into ${aim.step}, batch ${batchSize}`;
      expect(await collectionChecksum(db, 'users'), context).toBe(pristine);

      const known = new Set(startedRunIds(stateDir));
      const result = await victim(task, aim, delayMs, batchSize);
      const killed = result.signal === 'SIGKILL';
      tally.rounds++;
      if (process.env.FAULT_VERBOSE) console.log(`${context}: ${killed ? `killed in ${lastStep(result.stdout)}` : 'finished'}`);
      if (killed) {
        tally.kills++;
        tally.killedIn[lastStep(result.stdout)] = (tally.killedIn[lastStep(result.stdout)] ?? 0) + 1;
      } else {
        tally.finished++;
        expect(result.code, `${context}: finished before the kill\n${result.stdout}${result.stderr}`).toBe(0);
      }
      const runId = startedRunIds(stateDir).find((id) => !known.has(id));
      if (runId === undefined) {
        // Killed before the run had a record: it cannot have written anything.
        tally.backups.none++;
        expect(await collectionChecksum(db, 'users'), context).toBe(pristine);
        continue;
      }
      // A dead runner's lock expires on its own; nobody may take it before. By then the engine has also
      // answered whatever the runner had sent before it died.
      await sleep(250);
      const leftLock = await lockExpired(db);
      const deadRecord = await runRecord(db, runId);
      const heldByDead = leftLock?.runId === runId;
      if (deadRecord?.status === 'running' && !heldByDead) {
        // Killed before it held the lock: the next run can tell it is dead only once it is older than a lock lives.
        await sleep(Math.max(0, deadRecord.startedAt.getTime() + LOCK_TTL_MS + 100 - Date.now()));
      }

      const backup = await openBackup(backupDir, runId).then(
        (manifest) => ({ usable: true as const, manifest }),
        (error: Error) => ({ usable: false as const, message: error.message }),
      );
      let next: RunRecord;
      if (backup.usable) {
        tally.backups.complete++;
        const restore = await runCli(['restore', runId, '--json', '--uri', database.uri(), ...tasksDirOf(task)], { env });
        expect(restore.code, `${context}: restore\n${restore.stdout}${restore.stderr}`).toBe(0);
        const restored = parseJson<RestoreRecord>(restore.stdout);
        next = restored;
        expect(next.status, context).toBe('succeeded');
        const counts = reachedStep('apply', restored.restore);
        expect(counts.restored + counts.alreadyRestored, context).toBe(backup.manifest.count);
        expect(counts.conflicts, context).toBe(0);
        tally.restoredDocuments += counts.restored;
      } else {
        // Never used: said so in one line, and nothing was written from it.
        expect(backup.message, context).toMatch(/is incomplete|no backup for run/);
        backup.message.includes('incomplete') ? tally.backups.incomplete++ : tally.backups.none++;
        expect(killed, `${context}: a finished run left no usable backup`).toBe(true);
        expect(await collectionChecksum(db, 'users'), context).toBe(pristine);
        const refused = await runCli(['restore', runId, '--uri', database.uri(), ...tasksDirOf(task)], { env });
        expect(refused.code, context).toBe(2);
        expect(oneCleanLine(refused.stderr), `${context}: ${refused.stderr}`).toBe(true);
        expect(refused.stderr, context).toMatch(/is incomplete|no backup for run/);
        // The next run is then a dry run: it too must find the dead run's leftovers.
        const dryRun = await runCli([...task.args, '--dry-run', '--json', '--uri', database.uri()], { env });
        expect(dryRun.code, `${context}: dry run\n${dryRun.stderr}`).toBe(0);
        next = parseJson<RunRecord>(dryRun.stdout);
      }

      if (heldByDead) {
        tally.takeovers++;
        expect(next.lockTakeover?.previousRunId, `${context}: takeover reported`).toBe(runId);
        expect(next.notices.join('\n'), context).toContain(`took over an expired lock held by run ${runId}`);
      } else {
        expect(next.lockTakeover, context).toBeUndefined();
      }
      // Killed while auditing its end: this host's audit file may have it when the database does not.
      const endedHere = auditLines(stateDir).find((line) => line.event === 'completed' && line.record._id === runId);
      if (deadRecord?.status === 'running' && killed && endedHere !== undefined) {
        tally.staleRecordsReconciled++;
        expect(next.staleRunsReconciled, `${context}: reconciled record reported`).toContain(runId);
        expect(await runRecord(db, runId), context).toMatchObject({ status: endedHere.record.status, reconciled: { by: next._id } });
      } else if (deadRecord?.status === 'running' && killed) {
        tally.staleRecordsClosed++;
        expect(next.staleRunsClosed, `${context}: stale record reported`).toContain(runId);
        expect(await runRecord(db, runId), context).toMatchObject({ status: 'interrupted', error: { message: expect.stringMatching(/stopped without finishing/) } });
      }
      expect(await collectionChecksum(db, 'users'), `${context}: after restore`).toBe(pristine);
    }
    expect(tally.kills, 'most rounds end in a kill').toBeGreaterThan(ROUNDS / 2);
    expect(tally.backups.complete, 'some kills land after the backup').toBeGreaterThan(0);

    // Every backup left on disk either verifies or says it is incomplete: none is half-trusted.
    for (const listing of await listBackups(backupDir)) {
      const opened = await openBackup(backupDir, listing.runId).then(
        () => 'complete',
        (error: Error) => error.message,
      );
      if (opened !== 'complete') {
        // Killed before its first manifest was on disk, or while the data was being written.
        expect(listing.manifest?.complete ?? false).toBe(false);
        expect(opened).toMatch(/is incomplete|no backup for run/);
      } else {
        expect(listing.manifest?.complete).toBe(true);
      }
    }
  }, ROUNDS * 20_000);
});

function tasksDirOf(task: (typeof TASKS)[number]): string[] {
  return task.name === 'flag-users' ? ['--tasks-dir', FIXTURES] : [];
}
