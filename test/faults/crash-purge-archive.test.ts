import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EJSON } from 'bson';
import { Double, Int32, Long, type Document } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { openBackup, openRunBackups, readBackupBatches } from '../../src/engine/backup.ts';
import { RunKind, RunStatus, StepState, type RestoreRecord, type RunRecord, type TaskRunRecord } from '../../src/engine/run-record.ts';
import { storedDocuments } from '../engine/in-process.ts';
import { reachedStep } from '../support/records.ts';
import { parseJson, REPO, runCli, tempStateDir, type CliResult } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { until } from '../support/until.ts';
import { lockExpired, oneCleanLine, randomSource, runRecord, startedRunIds } from './faults.ts';

/**
 * SIGKILL at a random moment of a purge, an archive, or both as two steps of one run (`crash-steps`), then `restore` of the killed run (the collections exactly
 * as before it), `resume` of it (the collections exactly as one uninterrupted run leaves them), or the task run
 * again (the same); the restore or resume is sometimes killed in turn, and run again. After every kill, an
 * archived document is in the source, the archive or both, never in neither nor twice, and every document anywhere
 * is byte for byte the one seeded. FAULT_ROUNDS for more rounds; FAULT_SEED replays one; FAULT_VERBOSE says each.
 */
const ROUNDS = Number(process.env.FAULT_ROUNDS ?? 6);
// Long enough that a live runner renews its lock on this loaded machine; a dead one's then takes as long to expire.
const LOCK_TTL_MS = 2500;
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
const SOURCE = 'items';
const ARCHIVE = 'items_archive';

const database = useTestDatabase('crashpa');
const stateDir = tempStateDir();
const backupDir = join(stateDir, 'backups');
const random = randomSource();
const env = { PRESENCE_STATE_DIR: stateDir, PRESENCE_LOCK_TTL_MS: String(LOCK_TTL_MS) };

/** Where a kill is aimed: the step whose start line it waits for, then up to `withinMs` more. */
const AIMS = [
  { step: 'lock', withinMs: 50, weight: 1 },
  { step: 'plan', withinMs: 150, weight: 1 },
  { step: 'backup', withinMs: 150, weight: 2 },
  // Where a purge deletes and an archive has documents in both collections: most kills land here.
  { step: 'apply', withinMs: 1000, weight: 10 },
  { step: 'verify', withinMs: 150, weight: 2 },
  { step: 'audit', withinMs: 30, weight: 1 },
] as const;
const WEIGHTED = AIMS.flatMap((aim) => Array.from({ length: aim.weight }, () => aim));

const TASKS = ['crash-purge', 'crash-archive', 'crash-steps'] as const;
type TaskName = (typeof TASKS)[number];

const tally = {
  rounds: 0,
  kills: 0,
  finished: 0,
  killedIn: {} as Record<string, number>,
  after: { restored: 0, resumed: 0, ranAgain: 0, untouchedNoBackup: 0, finishedAsWhole: 0 },
  /** A finished or resumed run undone in turn, by its own id (a continuation's undoes both parts). */
  undoneAfterwards: 0,
  /** A restore or a resume that follows a kill, killed in turn. */
  secondKills: { restore: 0, resume: 0 },
  /** Where the marked documents of an archive were found after each kill, summed over the kills. */
  archiveStatesSeen: { sourceOnly: 0, archiveOnly: 0, both: 0 },
  documentsMarked: 0,
};

afterAll(() => {
  console.log(`crash-purge-archive (seed ${random.seed}): ${JSON.stringify(tally)}`);
});

/** Canonical EJSON: field order and BSON types included. */
const bytesOf = (document: Document) => EJSON.stringify(document, { relaxed: false });
const idOf = (document: Document) => String(document._id);

/** 100 to 150 items with mixed BSON values and field orders; some marked to go, some that only look marked. */
function seededItems(): Document[] {
  const count = 100 + random.below(51);
  const values = [
    (n: number) => new Int32(n),
    (n: number) => new Double(n + 0.25),
    (n: number) => Long.fromNumber(n * 1_000_000_007),
    (n: number) => `text ${n} ✓ ünïcode`,
    () => null,
    (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 3_600_000),
    (n: number) => ({ nested: { level: new Int32(n), list: [n, `x${n}`, null] } }),
    (n: number) => [new Int32(n), new Double(n / 3), { deep: n % 2 === 0 }],
    (n: number) => n % 2 === 0,
  ];
  // Only `true` matches the filter: false, 'true', 1 and absence stay.
  const marks: unknown[] = [true, true, true, false, 'true', 1, undefined];
  return Array.from({ length: count }, (_, n) => {
    const fields: [string, unknown][] = [
      ['a', random.pick(values)(n)],
      ['b', random.pick(values)(n + 7)],
      ['c', random.pick(values)(n + 13)],
    ].filter(() => random.next() < 0.8) as [string, unknown][];
    const mark = random.pick(marks);
    if (mark !== undefined) fields.splice(random.below(fields.length + 1), 0, ['marked', mark]);
    return { _id: `item-${String(n).padStart(4, '0')}`, ...Object.fromEntries(fields) };
  });
}

async function reset(items: Document[]): Promise<void> {
  const db = database.db();
  for (const name of [SOURCE, ARCHIVE]) await db.collection(name).drop().catch(() => undefined);
  await db.collection(SOURCE).insertMany(items);
}

/** Runs the CLI; with `killAt`, SIGKILLs it once that step has started and the delay has passed. */
function runKilled(args: string[], killAt?: { step: string; delayMs: number }): Promise<CliResult> {
  let armed = false;
  return runCli([...args, '--uri', database.uri(), '--tasks-dir', FIXTURES], {
    env,
    timeoutMs: 120_000,
    onStdout: (text, child) => {
      if (killAt === undefined || armed || !text.includes(`❯ ${killAt.step}`)) return;
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), killAt.delayMs);
    },
  });
}

/** The run this host started since `known` was taken, if it got as far as its `started` line. */
function newRunId(known: ReadonlySet<string>): string | undefined {
  return startedRunIds(stateDir).find((id) => !known.has(id));
}

/**
 * After a kill: waits until the dead run's lock has expired (nobody may take it before) and a record it left
 * `running` without the lock is older than a lock lives (the next run then sees it stale). Its record.
 */
async function deadRun(runId: string): Promise<RunRecord | null> {
  const db = database.db();
  await sleep(250);
  const leftLock = await lockExpired(db);
  const record = await runRecord(db, runId);
  if (record?.status === 'running' && leftLock?.runId !== runId) {
    await sleep(Math.max(0, record.startedAt.getTime() + LOCK_TTL_MS + 100 - Date.now()));
  }
  return record;
}

/** The step the run had last started when it died, from its own output. */
function lastStep(stdout: string): string {
  const started = [...stdout.matchAll(/^❯ (\w+)/gm)].map((match) => match[1]!);
  return started.at(-1) ?? 'startup';
}

/** What `resume` continues: a run of documents, its backup done, stopped with its runner gone (as resume decides). */
function resumable(record: RunRecord | null): record is TaskRunRecord {
  return (
    record !== null &&
    record.kind === RunKind.run &&
    !record.dryRun &&
    record.backup.state === StepState.done &&
    ([RunStatus.running, RunStatus.paused, RunStatus.interrupted] as string[]).includes(record.status)
  );
}

interface Collections {
  source: Document[];
  archive: Document[];
}

async function current(): Promise<Collections> {
  const db = database.db();
  return { source: await storedDocuments(db, SOURCE), archive: await storedDocuments(db, ARCHIVE) };
}

const elapsed = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

const serialized = (documents: Document[]) => documents.map(bytesOf).join('\n');

/**
 * What a kill may leave, whenever it lands: nothing changed but the removal of marked items (purge) or their
 * move, each in the source, the archive or both, never in neither and never twice (archive).
 */
function assertKilledState(task: TaskName, seeded: Document[], { source, archive }: Collections, context: string): void {
  const original = new Map(seeded.map((document) => [idOf(document), bytesOf(document)]));
  for (const [where, documents] of [
    ['source', source],
    ['archive', archive],
  ] as const) {
    for (const document of documents) expect(bytesOf(document), `${context}: ${where} holds ${idOf(document)} as seeded`).toBe(original.get(idOf(document)));
  }
  const inSource = new Set(source.map(idOf));
  const archivedIds = archive.map(idOf);
  const inArchive = new Set(archivedIds);
  expect(archivedIds.length, `${context}: no document twice in the archive`).toBe(inArchive.size);
  for (const document of seeded) {
    const id = idOf(document);
    if (document.marked === false && task === 'crash-steps') {
      expect(!inArchive.has(id), `${context}: ${id}, marked false, is purged or stays, never archived`).toBe(true);
    } else if (document.marked !== true) {
      expect(inSource.has(id) && !inArchive.has(id), `${context}: unmarked ${id} stays in the source alone`).toBe(true);
    } else if (task === 'crash-purge') {
      expect(inArchive.has(id), `${context}: a purge archives nothing (${id})`).toBe(false);
    } else {
      expect(inSource.has(id) || inArchive.has(id), `${context}: marked ${id} is in the source, the archive or both`).toBe(true);
      if (inSource.has(id) && inArchive.has(id)) tally.archiveStatesSeen.both++;
      else if (inArchive.has(id)) tally.archiveStatesSeen.archiveOnly++;
      else tally.archiveStatesSeen.sourceOnly++;
    }
  }
}

/** The collections as one uninterrupted run leaves them. */
function wholeRun(task: TaskName, seeded: Document[]): { source: string; archive: string } {
  const marked = seeded.filter((document) => document.marked === true);
  return {
    source: serialized(seeded.filter((document) => document.marked !== true && (task !== 'crash-steps' || document.marked !== false))),
    archive: task === 'crash-purge' ? '' : serialized(marked),
  };
}

async function assertCollections(expected: { source: string; archive: string }, context: string): Promise<void> {
  const now = await current();
  expect(serialized(now.source), `${context}: source`).toBe(expected.source);
  expect(serialized(now.archive), `${context}: archive`).toBe(expected.archive);
}

/**
 * What follows a kill: `restore` or `resume` (each task's rounds take turns preferring one, so a few rounds see
 * both), whichever the killed run allows; sometimes the task simply run again, as an operator may, which must
 * also end as one whole run.
 */
function afterKill(round: number, draw: number, backup: boolean, canResume: boolean): 'rerun' | 'resume' | 'restore' | 'untouched' {
  if (draw < 0.15) return 'rerun';
  const preferResume = Math.floor(round / TASKS.length) % 2 === 0;
  if (canResume && (preferResume || !backup)) return 'resume';
  return backup ? 'restore' : 'untouched';
}

interface Round {
  task: TaskName;
  seeded: Document[];
  before: { source: string; archive: string };
  context: string;
  /** When set, the restore or resume that follows the kill is itself killed this long into its apply, then run again. */
  secondKillMs: number | undefined;
}

/**
 * `restore <runId>` (killed first when the round says so, then run again): every backed-up document back (or
 * found back), none in conflict, the collections as before the run.
 */
async function restoreRun(round: Round, runId: string, backupOf: string, context: string): Promise<void> {
  // Every step's part of the backup (one for a purge or an archive).
  const planned = (await openRunBackups(backupDir, await openBackup(backupDir, backupOf))).reduce((sum, part) => sum + part.count, 0);
  if (round.secondKillMs !== undefined) {
    const known = new Set(startedRunIds(stateDir));
    const first = await runKilled(['restore', runId, '--batch-size', '5'], { step: 'apply', delayMs: round.secondKillMs });
    if (first.signal === 'SIGKILL') {
      tally.secondKills.restore++;
      if (process.env.FAULT_VERBOSE) console.log(`${context}: restore killed ${round.secondKillMs} ms into apply`);
      assertKilledState(round.task, round.seeded, await current(), `${context}: restore killed ${round.secondKillMs} ms into apply`);
      const restoreId = newRunId(known);
      if (restoreId !== undefined) await deadRun(restoreId);
    } else {
      expect(first.code, `${context}: restore\n${first.stdout}${first.stderr}`).toBe(0);
    }
  }
  const restore = await runKilled(['restore', runId, '--json']);
  expect(restore.code, `${context}: restore\n${restore.stdout}${restore.stderr}`).toBe(0);
  const record = parseJson<RestoreRecord>(restore.stdout);
  expect(record.status, context).toBe('succeeded');
  const counts = reachedStep('restore', record.restore);
  expect(counts.restored + counts.alreadyRestored, `${context}: restore counts`).toBe(planned);
  expect(counts.conflicts, `${context}: restore conflicts`).toBe(0);
  await assertCollections(round.before, `${context}: after restore`);
}

/**
 * `resume <runId>`, until a continuation ends: when the round says so, the first continuation is killed in its
 * apply, then the run continued again (the killed continuation when it can be, as `resume` asks). The record of
 * the continuation that finished the run.
 */
async function resumeRun(round: Round, runId: string, batchSize: number): Promise<TaskRunRecord> {
  const resume = (id: string, ...args: string[]) => ['resume', id, '--batch-size', String(batchSize), ...args];
  let stopped = runId;
  if (round.secondKillMs !== undefined) {
    const known = new Set(startedRunIds(stateDir));
    // In lines, not JSON: the kill waits for its apply line.
    const first = await runKilled(resume(runId), { step: 'apply', delayMs: round.secondKillMs });
    const continuationId = newRunId(known);
    if (first.signal !== 'SIGKILL') {
      expect(first.code, `${round.context}: resume\n${first.stdout}${first.stderr}`).toBe(0);
      return (await runRecord(database.db(), continuationId!)) as TaskRunRecord;
    }
    tally.secondKills.resume++;
    if (process.env.FAULT_VERBOSE) console.log(`${round.context}: its resume killed ${round.secondKillMs} ms into apply`);
    assertKilledState(round.task, round.seeded, await current(), `${round.context}: resume killed ${round.secondKillMs} ms into apply`);
    const continuation = continuationId === undefined ? null : await deadRun(continuationId);
    if (continuation?.status === 'succeeded') return continuation as TaskRunRecord;
    // A continuation with a record is the one to resume now; without one, the first run still is.
    if (resumable(continuation)) stopped = continuation._id;
  }
  const resumed = await runKilled(resume(stopped, '--json'));
  expect(resumed.code, `${round.context}: resume of ${stopped}\n${resumed.stdout}${resumed.stderr}`).toBe(0);
  const record = parseJson<TaskRunRecord>(resumed.stdout);
  expect(record.continues?.runId, round.context).toBe(stopped);
  return record;
}

describe('a purge, an archive or both as two steps, killed at any moment', () => {
  it(`${ROUNDS} random SIGKILLs: after each, nothing lost or doubled; restore gives the collections back, resume finishes as one run`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const task = TASKS[round % TASKS.length]!;
      const seeded = seededItems();
      await reset(seeded);
      const pristine = await current();
      const before = { source: serialized(pristine.source), archive: '' };
      const aim = random.pick(WEIGHTED);
      const delayMs = random.below(aim.withinMs);
      const batchSize = random.pick([3, 5, 10, 20]);
      const afterKillDraw = random.next();
      const secondKillMs = random.below(800);
      // Every other restore or resume is killed in turn, and every other run that ends whole undone: a few rounds see each.
      const secondKill = (tally.after.restored + tally.after.resumed) % 2 === 1;
      const undoAfterwards = (tally.after.resumed + tally.after.finishedAsWhole) % 2 === 1;
      const context = `round ${round} (seed ${random.seed}): ${task}, ${seeded.length} items, kill ${delayMs} ms into ${aim.step}, batch ${batchSize}`;
      tally.documentsMarked += seeded.filter((document) => document.marked === true).length;

      const thisRound: Round = { task, seeded, before, context, secondKillMs: secondKill ? secondKillMs : undefined };
      const startedAt = performance.now();
      const known = new Set(startedRunIds(stateDir));
      const result = await runKilled(['run', task, '--batch-size', String(batchSize)], { step: aim.step, delayMs });
      const killed = result.signal === 'SIGKILL';
      tally.rounds++;
      if (killed) {
        tally.kills++;
        tally.killedIn[lastStep(result.stdout)] = (tally.killedIn[lastStep(result.stdout)] ?? 0) + 1;
      } else {
        tally.finished++;
        expect(result.code, `${context}: finished before the kill\n${result.stdout}${result.stderr}`).toBe(0);
      }
      const left = await current();
      assertKilledState(task, seeded, left, context);

      const runId = newRunId(known);
      if (runId === undefined) {
        // Killed before the run had a record: it cannot have written anything.
        tally.after.untouchedNoBackup++;
        await assertCollections(before, `${context}: killed before its record`);
        if (process.env.FAULT_VERBOSE) console.log(`${context}: killed before its record`);
        continue;
      }
      const deadRecord = await deadRun(runId);
      const backup = await openBackup(backupDir, runId).then(
        (first) => openRunBackups(backupDir, first),
      ).then(
        () => true,
        (error: Error) => {
          expect(error.message, context).toMatch(/is incomplete|no backup for (step \d+ of )?run/);
          return false;
        },
      );
      const canResume = killed && resumable(deadRecord);
      const choice = killed ? afterKill(round, afterKillDraw, backup, canResume) : 'finished';
      if (process.env.FAULT_VERBOSE) {
        console.log(`${context}: ${killed ? `killed in ${lastStep(result.stdout)}` : 'finished'}, record ${deadRecord?.status}, backup ${backup}, then ${choice} (${elapsed(startedAt)})`);
      }

      if (choice === 'finished') {
        tally.after.finishedAsWhole++;
        await assertCollections(wholeRun(task, seeded), `${context}: a finished run`);
        if (undoAfterwards) {
          tally.undoneAfterwards++;
          await restoreRun(thisRound, runId, runId, `${context}: the finished run undone`);
        }
      } else if (choice === 'untouched') {
        // Killed before its backup was complete: nothing was written, and there is nothing to restore.
        tally.after.untouchedNoBackup++;
        await assertCollections(before, `${context}: killed before its backup was complete`);
        const refused = await runKilled(['restore', runId]);
        expect(refused.code, `${context}: restore without a backup\n${refused.stderr}`).toBe(2);
        expect(oneCleanLine(refused.stderr), `${context}: ${refused.stderr}`).toBe(true);
        expect(refused.stderr, context).toMatch(/is incomplete|no backup for (step \d+ of )?run/);
      } else if (choice === 'rerun') {
        tally.after.ranAgain++;
        const again = await runKilled(['run', task, '--json', '--batch-size', String(batchSize)]);
        expect(again.code, `${context}: run again\n${again.stdout}${again.stderr}`).toBe(0);
        expect(parseJson<TaskRunRecord>(again.stdout).status, context).toBe('succeeded');
        await assertCollections(wholeRun(task, seeded), `${context}: after running the task again`);
      } else if (choice === 'restore') {
        tally.after.restored++;
        await restoreRun(thisRound, runId, runId, context);
      } else {
        tally.after.resumed++;
        const continuation = await resumeRun(thisRound, runId, batchSize);
        expect(continuation.status, context).toBe('succeeded');
        await assertCollections(wholeRun(task, seeded), `${context}: after resume`);
        if (undoAfterwards) {
          tally.undoneAfterwards++;
          await restoreRun({ ...thisRound, secondKillMs: undefined }, continuation._id, runId, `${context}: the continuation undone`);
        }
      }
      if (process.env.FAULT_VERBOSE) console.log(`${context}: round done (${elapsed(startedAt)})`);
    }
    expect(tally.kills, 'half the rounds or more end in a kill').toBeGreaterThanOrEqual(ROUNDS / 2);
  }, ROUNDS * 90_000);
});

describe('an archive continued after a kill', () => {
  /** 30 documents, 25 marked, archived two at a time; killed once its record's checkpoint holds `entries`. */
  async function archiveKilledPastCheckpoint(entries: number): Promise<{ seeded: Document[]; runId: string }> {
    const seeded = Array.from({ length: 30 }, (_, n): Document => ({ _id: `item-${String(n).padStart(4, '0')}`, marked: n % 6 !== 5, value: new Int32(n) }));
    await reset(seeded);
    let child: ChildProcess | undefined;
    const killed = runCli(['run', 'crash-archive', '--tasks-dir', FIXTURES, '--uri', database.uri(), '--batch-size', '2', '--rate', '4'], {
      env,
      timeoutMs: 120_000,
      onStdout: (_text, process) => (child = process),
    });
    let runId: string | undefined;
    await until('the archive has moved past its first checkpoints', async () => {
      const record = await database
        .db()
        .collection<RunRecord>('maintenance_runs')
        .findOne({ status: 'running', 'progress.checkpoint.entries': { $gte: entries } });
      runId = record?._id;
      return runId !== undefined;
    });
    child!.kill('SIGKILL');
    expect((await killed).signal).toBe('SIGKILL');
    return { seeded, runId: runId! };
  }

  it('keeps the archived copy of a document it moved before its checkpoint, when the source has a new one with that _id since', async () => {
    const db = database.db();
    const { seeded, runId } = await archiveKilledPastCheckpoint(6);

    // The first document of the backup was moved in a batch the killed run settled; then one with its _id came back.
    const manifest = await openBackup(backupDir, runId);
    const batches = readBackupBatches(backupDir, manifest, 1)[Symbol.asyncIterator]();
    const firstId = (await batches.next()).value![0]!._id as string;
    await batches.return?.(undefined);
    const moved = seeded.find((document) => document._id === firstId)!;
    expect(await db.collection(SOURCE).findOne({ _id: firstId as never })).toBeNull();
    expect(bytesOf((await db.collection(ARCHIVE).findOne({ _id: firstId as never }, { promoteValues: false }))!)).toBe(bytesOf(moved));
    const cameBack = { _id: firstId, marked: false, note: 'created again' };
    await db.collection(SOURCE).insertOne(cameBack as Document);

    await lockExpired(db);
    const resumed = await runCli(['resume', runId, '--json', '--uri', database.uri(), '--tasks-dir', FIXTURES, '--batch-size', '2'], { env, timeoutMs: 120_000 });
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);

    const marked = seeded.filter((document) => document.marked === true);
    const unmarked = seeded.filter((document) => document.marked !== true);
    await assertCollections(
      { source: serialized([...unmarked, cameBack].sort((a, b) => String(a._id).localeCompare(String(b._id)))), archive: serialized(marked) },
      `the continuation of ${runId}`,
    );
  });

  it('keeps, and reports, a copy past the checkpoint whose source changed since: a stale copy or the only one, it cannot tell', async () => {
    const db = database.db();
    const { seeded, runId } = await archiveKilledPastCheckpoint(4);

    // The last document of the backup, far past the checkpoint: as if the stopped run had copied it, then it changed.
    const manifest = await openBackup(backupDir, runId);
    let last: Document | undefined;
    for await (const batch of readBackupBatches(backupDir, manifest, 50)) last = batch.at(-1);
    const copied = seeded.find((document) => document._id === last!._id)!;
    await db.collection(ARCHIVE).insertOne(copied);
    await db.collection(SOURCE).updateOne({ _id: copied._id as never }, { $set: { value: 'changed since' } });
    const changed = (await db.collection(SOURCE).findOne({ _id: copied._id as never }, { promoteValues: false }))!;

    await lockExpired(db);
    const resumed = await runCli(['resume', runId, '--json', '--uri', database.uri(), '--tasks-dir', FIXTURES, '--batch-size', '2'], { env, timeoutMs: 120_000 });
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    const continuation = parseJson<TaskRunRecord>(resumed.stdout);
    expect(continuation.notices.join('\n')).toMatch(/1 document\(s\) copied to \S+ by the stopped run and changed in the source since: both kept/);
    expect(bytesOf((await db.collection(ARCHIVE).findOne({ _id: copied._id as never }, { promoteValues: false }))!)).toBe(bytesOf(copied));
    expect(bytesOf((await db.collection(SOURCE).findOne({ _id: copied._id as never }, { promoteValues: false }))!)).toBe(bytesOf(changed));
  });
});
