import { EJSON } from 'bson';
import fc from 'fast-check';
import { Int32, type Document } from 'mongodb';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { listBackups } from '../../src/engine/backup.ts';
import { outcomeOf } from '../../src/engine/run-record.ts';
import type { AnyPlan } from '../../src/engine/task.ts';
import { useTestDatabase } from '../support/database.ts';
import { inProcessRunner, storedDocuments, taskOf } from './in-process.ts';

const database = useTestDatabase('steps');
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 2 ** 31);
const ROUNDS = Number(process.env.STEPS_ROUNDS ?? 6);
const COLLECTIONS = ['teams', 'memberships', 'memberships_archive', 'users', 'invites'] as const;

/** Field order and types too: what a restore of a purge or an archive promises. */
const bytesOf = (documents: Document[]) => EJSON.stringify(documents, { relaxed: false });

/** Values and types, whatever the order of fields: an update's restore puts an unset field back at the end. */
function valuesOf(documents: Document[]): string {
  const sorted = (value: unknown): unknown =>
    value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype
      ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, sorted((value as Document)[key])]))
      : Array.isArray(value)
        ? value.map(sorted)
        : EJSON.stringify({ v: value }, { relaxed: false });
  return JSON.stringify(documents.map(sorted));
}

async function snapshot(): Promise<Record<string, string>> {
  const db = database.db();
  const taken: Record<string, string> = {};
  for (const name of COLLECTIONS) {
    const documents = await storedDocuments(db, name);
    taken[name] = name === 'users' ? valuesOf(documents) : bytesOf(documents);
  }
  return taken;
}

/**
 * The orphan cleanup of a team platform in three steps, one of each kind that writes documents: archive the
 * memberships of teams that no longer exist, clear their users' `teamId`, purge their pending invites.
 */
function orphanCleanup(orphans: number[]) {
  const ofOrphans = { teamId: { $in: orphans } };
  return taskOf('orphan-cleanup', () => [
    { kind: 'archive', collection: 'memberships', filter: ofOrphans, into: { collection: 'memberships_archive' } },
    { collection: 'users', filter: ofOrphans, fields: ['teamId'], change: () => ({ unset: ['teamId'] }) },
    { kind: 'delete', collection: 'invites', filter: ofOrphans },
  ] satisfies AnyPlan[]);
}

const odd = fc.oneof(fc.constant(null), fc.integer({ min: -9, max: 9 }).map((n) => new Int32(n)), fc.string({ maxLength: 4 }), fc.constant({ nested: [1, { deep: 'x' }] }));
/** Teams 0–5, some gone; memberships, users and invites pointing at any of them, with odd neighbouring values. */
const platform: fc.Arbitrary<Platform> = fc.record({
  teams: fc.uniqueArray(fc.integer({ min: 0, max: 5 }), { maxLength: 5 }),
  memberships: fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), odd), { minLength: 1, maxLength: 12 }),
  users: fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), odd), { minLength: 1, maxLength: 10 }),
  invites: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 8 }),
});

type Platform = { teams: number[]; memberships: Array<[number, unknown]>; users: Array<[number, unknown]>; invites: number[] };

async function seed(drawn: Platform): Promise<number[]> {
  const db = database.db();
  for (const name of COLLECTIONS) await db.collection(name).deleteMany({});
  if (drawn.teams.length > 0) await db.collection('teams').insertMany(drawn.teams.map((id) => ({ _id: id, name: `team ${id}` })) as never);
  await db.collection('memberships').insertMany(drawn.memberships.map(([teamId, note], index) => ({ _id: index, teamId, userId: index % 4, note })) as never);
  await db.collection('users').insertMany(drawn.users.map(([teamId, note], index) => ({ _id: index, teamId, note, name: `u${index}` })) as never);
  if (drawn.invites.length > 0) await db.collection('invites').insertMany(drawn.invites.map((teamId, index) => ({ _id: `i${index}`, teamId })) as never);
  return [0, 1, 2, 3, 4, 5].filter((id) => !drawn.teams.includes(id));
}

afterAll(() => console.log(`multi-step: seed ${SEED}, ${ROUNDS} round trips`));
beforeEach(async () => {
  const db = database.db();
  for (const name of COLLECTIONS) await db.collection(name).drop().catch(() => undefined);
});

describe('a task that plans several steps', () => {
  it(`${ROUNDS} random round trips: each step does its kind's work under one run id; restore gives every collection back`, async () => {
    const db = database.db();
    const runner = inProcessRunner(db, database.name);
    await fc.assert(
      fc.asyncProperty(platform, async (drawn) => {
        const orphans = await seed(drawn);
        const before = await snapshot();
        const expected = {
          archived: drawn.memberships.filter(([teamId]) => orphans.includes(teamId)).length,
          cleared: drawn.users.filter(([teamId]) => orphans.includes(teamId)).length,
          purged: drawn.invites.filter((teamId) => orphans.includes(teamId)).length,
        };

        const run = await runner.run(orphanCleanup(orphans));
        expect(run.status, run.error?.message).toBe('succeeded');
        expect(run.steps?.map((step) => outcomeOf(step.result)?.written)).toEqual([expected.archived, expected.cleared, expected.purged]);
        expect(run.result).toMatchObject({ planned: expected.archived + expected.cleared + expected.purged, written: expected.archived + expected.cleared + expected.purged, remaining: 0 });
        expect(run.steps?.map((step) => outcomeOf(step.plan)?.step)).toEqual([1, 2, 3].map((index) => ({ index, of: 3 })));
        expect(await db.collection('memberships').countDocuments({ teamId: { $in: orphans } })).toBe(0);
        expect(await db.collection('memberships_archive').countDocuments()).toBe(expected.archived);
        expect(await db.collection('users').countDocuments({ teamId: { $in: orphans } })).toBe(0);
        expect(await db.collection('invites').countDocuments({ teamId: { $in: orphans } })).toBe(0);

        const restore = await runner.restore(run._id);
        expect(restore.status, restore.error?.message).toBe('succeeded');
        // Undone from the last step to the first.
        expect(restore.steps?.map((step) => outcomeOf(step.plan)?.step?.index)).toEqual([3, 2, 1]);
        expect(await snapshot()).toEqual(before);
        const again = await runner.restore(run._id);
        expect(again.restore).toMatchObject({ restored: 0 });
        expect(await snapshot()).toEqual(before);
      }),
      { numRuns: ROUNDS, seed: SEED },
    );
    // Each round is a run and two restores of three collections: minutes on a loaded machine.
  }, 300_000);

  it('dry run: each step planned with its sample, nothing written, no backup', async () => {
    const db = database.db();
    const orphans = await seed({ teams: [0], memberships: [[1, 'a'], [0, 'b']], users: [[1, null]], invites: [1, 1, 0] });
    const before = await snapshot();
    const runner = inProcessRunner(db, database.name);
    const run = await runner.run(orphanCleanup(orphans), { dryRun: true });
    expect(run.status).toBe('succeeded');
    expect(run.steps?.map((step) => outcomeOf(step.plan))).toMatchObject([
      { kind: 'archive', collection: 'memberships', count: 1, into: `${database.name}.memberships_archive` },
      { kind: 'update', collection: 'users', count: 1 },
      { kind: 'delete', collection: 'invites', count: 2 },
    ]);
    expect(run.plan).toMatchObject({ count: 4 });
    const sample = outcomeOf(run.steps![2]!.plan)!.sample!;
    expect(EJSON.parse(sample)).toEqual([{ _id: 'i0', before: { teamId: 1 }, after: {} }, { _id: 'i1', before: { teamId: 1 }, after: {} }]);
    expect(await snapshot()).toEqual(before);
    expect((await listBackups(runner.backupDir)).map((listing) => listing.runId)).not.toContain(run._id);
  });

  it('stops at the first step that fails: the steps after it are not reached, and restore undoes what was written', async () => {
    const db = database.db();
    await seed({ teams: [], memberships: [[1, 'a'], [1, 'b']], users: [[1, 'x'], [1, 'y'], [1, 'z']], invites: [1, 1] });
    await db.collection('users').createIndex({ handle: 1 }, { unique: true, name: 'handle_unique' });
    const before = await snapshot();
    // Step 2 gives every user the same handle: the second write breaks the unique index.
    const task = taskOf('clash', () => [
      { kind: 'delete', collection: 'memberships', filter: { teamId: 1 } },
      { collection: 'users', filter: { teamId: 1 }, fields: ['handle'], change: () => ({ set: { handle: 'same' } }) },
      { kind: 'delete', collection: 'invites', filter: { teamId: 1 } },
    ]);
    const runner = inProcessRunner(db, database.name);
    const run = await runner.run(task);
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ step: 'apply' });
    expect(run.error?.message).toMatch(/\(step 2 of 3\)/);
    expect(outcomeOf(run.steps![0]!.result)).toMatchObject({ planned: 2, written: 2 });
    expect(outcomeOf(run.steps![1]!.result)).toMatchObject({ planned: 3, written: 1 });
    expect(run.steps![2]!.result).toEqual({ state: 'not-reached' });
    expect(run.result).toMatchObject({ planned: 7, written: 3 });
    expect(outcomeOf(run.result)!.remaining).toBeGreaterThanOrEqual(2);
    expect(await db.collection('invites').countDocuments()).toBe(2);

    const restore = await runner.restore(run._id);
    expect(restore.status, restore.error?.message).toBe('succeeded');
    expect(restore.restore).toMatchObject({ planned: 7, restored: 3, alreadyRestored: 4, conflicts: 0 });
    expect(await snapshot()).toEqual(before);
  });

  it('refuses an empty list of steps, and names the step whose plan is wrong; nothing written', async () => {
    const db = database.db();
    await seed({ teams: [], memberships: [[1, 'a']], users: [[1, 'x']], invites: [] });
    const before = await snapshot();
    const runner = inProcessRunner(db, database.name);
    const empty = await runner.run(taskOf('none', () => []));
    expect(empty.status).toBe('failed');
    expect(empty.error?.message).toMatch(/empty list of steps/);
    const wrong = await runner.run(taskOf('wrong', () => [{ kind: 'delete', collection: 'memberships', filter: { teamId: 1 } }, { kind: 'delete', collection: 'users', filter: {} }]));
    expect(wrong.status).toBe('failed');
    expect(wrong.error?.message).toMatch(/step 2 of 2/);
    expect(await snapshot()).toEqual(before);
  });
});
