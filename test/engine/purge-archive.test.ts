import { EJSON } from 'bson';
import fc from 'fast-check';
import { Double, Int32, Long, type Document } from 'mongodb';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { silentObserver } from '../../src/engine/observer.ts';
import type { RunObserver } from '../../src/engine/ports.ts';
import type { AnyPlan } from '../../src/engine/task.ts';
import { useTestDatabase } from '../support/database.ts';
import { inProcessRunner, storedDocuments, taskOf } from './in-process.ts';

const database = useTestDatabase('purge');
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 2 ** 31);
const ROUNDS = Number(process.env.PURGE_ROUNDS ?? 8);

/** Field order and types too: what a restore of a purge or an archive promises. */
const bytesOf = (documents: Document[]) => EJSON.stringify(documents, { relaxed: false });

const leaf = fc.oneof(
  fc.constant(null),
  fc.integer({ min: -1000, max: 1000 }).map((n) => new Int32(n)),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).filter((n) => !Object.is(n, -0)).map((n) => new Double(n)),
  fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }).map((n) => Long.fromBigInt(n)),
  fc.string({ maxLength: 6 }),
  fc.boolean(),
  fc.date({ min: new Date('2000-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }),
  fc.array(fc.integer({ min: 0, max: 9 }).map((n) => new Int32(n)), { maxLength: 3 }),
);
const value = fc.oneof(leaf, fc.dictionary(fc.constantFrom('x', 'y', 'z'), leaf, { maxKeys: 3 }), fc.constant([{ a: new Int32(1) }, 'two']));
/** Documents with nested, odd and mixed-type values, each marked to go or stay. */
const seededDocuments = fc.array(fc.tuple(fc.boolean(), fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), value, { maxKeys: 4 })), { minLength: 1, maxLength: 14 }).map((drawn) =>
  drawn.map(([goes, fields], index): Document => ({ _id: index, goes, ...fields })),
);

function purgeTask(extra: Partial<AnyPlan> = {}) {
  return taskOf('purge', () => ({ kind: 'delete', collection: 'docs', filter: { goes: true }, ...extra }) as AnyPlan);
}

function archiveTask(into: { collection: string; database?: string } = { collection: 'docs_archive' }) {
  return taskOf('archive', () => ({ kind: 'archive', collection: 'docs', filter: { goes: true }, into }));
}

afterAll(() => console.log(`purge and archive: seed ${SEED}, ${ROUNDS} round trips each`));
beforeEach(async () => {
  const db = database.db();
  for (const name of ['docs', 'docs_archive']) await db.collection(name).drop().catch(() => undefined);
});

describe('a delete plan (purge)', () => {
  it(`${ROUNDS} random round trips: the run deletes exactly the matches, restore gives the collection back byte for byte, twice changes nothing`, async () => {
    const db = database.db();
    const runner = inProcessRunner(db, database.name);
    await fc.assert(
      fc.asyncProperty(seededDocuments, async (seeded) => {
        await db.collection('docs').deleteMany({});
        await db.collection('docs').insertMany(seeded);
        const original = await storedDocuments(db, 'docs');
        const context = EJSON.stringify(original, { relaxed: false });

        const run = await runner.run(purgeTask());
        expect(run.status, `${context}\n${run.error?.message}`).toBe('succeeded');
        const going = original.filter((document) => document.goes === true);
        expect(run.result, context).toMatchObject({ written: going.length, skipped: 0 });
        expect(bytesOf(await storedDocuments(db, 'docs')), context).toBe(bytesOf(original.filter((document) => document.goes !== true)));

        const restore = await runner.restore(run._id);
        expect(restore.status, context).toBe('succeeded');
        expect(bytesOf(await storedDocuments(db, 'docs')), context).toBe(bytesOf(original));
        const again = await runner.restore(run._id);
        expect(again.restore, context).toMatchObject({ restored: 0, alreadyRestored: going.length, conflicts: 0 });
        expect(bytesOf(await storedDocuments(db, 'docs')), context).toBe(bytesOf(original));
      }),
      { numRuns: ROUNDS, seed: SEED, endOnFailure: true },
    );
  }, 600_000);

  it('dry run writes nothing and shows what would go; the sample holds whole documents', async () => {
    const db = database.db();
    await db.collection('docs').insertMany([
      { _id: 1, goes: true, note: 'old' },
      { _id: 2, goes: false },
    ] as Document[]);
    const before = await storedDocuments(db, 'docs');
    const run = await inProcessRunner(db, database.name).run(purgeTask(), { dryRun: true });
    expect(run.status).toBe('succeeded');
    expect(run.plan).toMatchObject({ kind: 'delete', count: 1 });
    expect(run.plan.state === 'done' && EJSON.parse(run.plan.sample!)).toEqual([{ _id: 1, before: { goes: true, note: 'old' }, after: {} }]);
    expect(bytesOf(await storedDocuments(db, 'docs'))).toBe(bytesOf(before));
  });

  it('skips a document another writer changed between plan and write; one that only gained a field goes (the one change the condition cannot see)', async () => {
    const db = database.db();
    const docs = db.collection<{ _id: number } & Document>('docs');
    await docs.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i, goes: true, seen: new Int32(i) })));
    let otherWriter: Promise<unknown> = Promise.resolve();
    const observer: RunObserver = {
      ...silentObserver,
      stepFinished: (step) => {
        if (step === 'backup') otherWriter = Promise.all([docs.updateOne({ _id: 3 }, { $set: { seen: new Int32(99) } }), docs.updateOne({ _id: 5 }, { $set: { extra: 1 } })]);
      },
    };
    const runner = inProcessRunner(db, database.name);
    const run = await runner.run(purgeTask(), { observer, beforeBatch: () => otherWriter.then(() => undefined) });
    expect(run.status, run.error?.message).toBe('succeeded');
    // A field added since (5) is the one change the delete's condition cannot see: see docs/tasks.md.
    expect(run.result).toMatchObject({ planned: 10, written: 9, skipped: 1 });
    expect(await docs.find().toArray()).toEqual([{ _id: 3, goes: true, seen: 99 }]);
    expect(run.verify).toMatchObject({ inTargetState: 9, changedSince: 1 });

    // Restore puts back what the run deleted; the document that stayed is not touched.
    const restore = await runner.restore(run._id);
    expect(restore.restore).toMatchObject({ restored: 9, conflicts: 1 });
    expect(await docs.countDocuments()).toBe(10);
    expect(await docs.findOne({ _id: 3 })).toEqual({ _id: 3, goes: true, seen: 99 });
  });

  it('restore reports a document that exists again and never overwrites it, forced or not', async () => {
    const db = database.db();
    const docs = db.collection<{ _id: number } & Document>('docs');
    await docs.insertMany([1, 2, 3].map((i) => ({ _id: i, goes: true, v: i })));
    const runner = inProcessRunner(db, database.name);
    const run = await runner.run(purgeTask());
    expect(run.result).toMatchObject({ written: 3 });
    await docs.insertOne({ _id: 2, goes: false, v: 'new' });
    const restore = await runner.restore(run._id, { force: true });
    expect(restore.status).toBe('succeeded');
    expect(restore.restore).toMatchObject({ restored: 2, conflicts: 1, forced: 0 });
    expect(await docs.find({}, { sort: { _id: 1 } }).toArray()).toEqual([
      { _id: 1, goes: true, v: 1 },
      { _id: 2, goes: false, v: 'new' },
      { _id: 3, goes: true, v: 3 },
    ]);
  });

  it('refuses an empty filter unless the plan says wholeCollection, and then purges every document', async () => {
    const db = database.db();
    await db.collection('docs').insertMany([{ _id: 1 }, { _id: 2 }] as Document[]);
    const runner = inProcessRunner(db, database.name);
    const refused = await runner.run(purgeTask({ filter: {} }));
    expect(refused.status).toBe('failed');
    expect(refused.error?.message).toMatch(/its delete plan has an empty filter, which matches every document of docs: say "wholeCollection: true" when that is meant/);
    expect(await db.collection('docs').countDocuments()).toBe(2);
    const both = await runner.run(purgeTask({ filter: { _id: 1 }, wholeCollection: true } as Partial<AnyPlan>));
    expect(both.error?.message).toMatch(/says "wholeCollection" but has a filter/);
    const whole = await runner.run(purgeTask({ filter: {}, wholeCollection: true } as Partial<AnyPlan>));
    expect(whole.result).toMatchObject({ written: 2 });
    expect(await db.collection('docs').countDocuments()).toBe(0);
  });
});

describe('an archive plan', () => {
  it(`${ROUNDS} random round trips: documents move to the archive, restore moves them back byte for byte, twice changes nothing`, async () => {
    const db = database.db();
    const runner = inProcessRunner(db, database.name);
    await fc.assert(
      fc.asyncProperty(seededDocuments, async (seeded) => {
        await db.collection('docs').deleteMany({});
        await db.collection('docs_archive').deleteMany({});
        await db.collection('docs').insertMany(seeded);
        const original = await storedDocuments(db, 'docs');
        const context = EJSON.stringify(original, { relaxed: false });
        const going = original.filter((document) => document.goes === true);

        const run = await runner.run(archiveTask());
        expect(run.status, `${context}\n${run.error?.message}`).toBe('succeeded');
        expect(run.result, context).toMatchObject({ written: going.length, skipped: 0 });
        expect(bytesOf(await storedDocuments(db, 'docs')), context).toBe(bytesOf(original.filter((document) => document.goes !== true)));
        expect(bytesOf(await storedDocuments(db, 'docs_archive')), context).toBe(bytesOf(going));

        const restore = await runner.restore(run._id);
        expect(restore.status, `${context}\n${restore.error?.message}`).toBe('succeeded');
        expect(bytesOf(await storedDocuments(db, 'docs')), context).toBe(bytesOf(original));
        expect(await storedDocuments(db, 'docs_archive'), context).toEqual([]);
        const again = await runner.restore(run._id);
        expect(again.restore, context).toMatchObject({ restored: 0, alreadyRestored: going.length, conflicts: 0 });
      }),
      { numRuns: ROUNDS, seed: SEED, endOnFailure: true },
    );
  }, 600_000);

  it('never overwrites a document already in the archive with other content, and leaves it in the source', async () => {
    const db = database.db();
    await db.collection('docs').insertMany([1, 2, 3].map((i) => ({ _id: i, goes: true, v: i })) as Document[]);
    await db.collection('docs_archive').insertOne({ _id: 2, v: 'archived long ago' } as Document);
    const run = await inProcessRunner(db, database.name).run(archiveTask());
    expect(run.status, run.error?.message).toBe('succeeded');
    expect(run.result).toMatchObject({ written: 2, skipped: 1 });
    expect(run.notices.join('\n')).toMatch(/1 document\(s\) already in .*\.docs_archive with other content, left in the source \(never overwritten\), e\.g\. _id 2/);
    expect(await db.collection('docs').find().toArray()).toEqual([{ _id: 2, goes: true, v: 2 }]);
    expect(await db.collection('docs_archive').findOne({ _id: 2 as never })).toEqual({ _id: 2, v: 'archived long ago' });
  });

  it('skips a document changed between plan and write: it stays in the source, and no copy of it is left in the archive', async () => {
    const db = database.db();
    const docs = db.collection<{ _id: number } & Document>('docs');
    await docs.insertMany(Array.from({ length: 8 }, (_, i) => ({ _id: i, goes: true, v: i })));
    let otherWriter: Promise<unknown> = Promise.resolve();
    const observer: RunObserver = {
      ...silentObserver,
      stepFinished: (step) => {
        if (step === 'backup') otherWriter = Promise.all([docs.updateOne({ _id: 4 }, { $set: { v: 'changed' } }), docs.deleteOne({ _id: 6 })]);
      },
    };
    const run = await inProcessRunner(db, database.name).run(archiveTask(), { observer, beforeBatch: () => otherWriter.then(() => undefined) });
    expect(run.status, run.error?.message).toBe('succeeded');
    expect(run.result).toMatchObject({ written: 6, skipped: 2 });
    expect(await docs.find().toArray()).toEqual([{ _id: 4, goes: true, v: 'changed' }]);
    expect((await db.collection('docs_archive').find({}, { sort: { _id: 1 } }).toArray()).map((document) => document._id)).toEqual([0, 1, 2, 3, 5, 7]);
  });

  it('restore puts back from the backup a document whose archived copy someone removed since: never lost', async () => {
    const db = database.db();
    await db.collection<Document>('docs').insertMany([1, 2, 3].map((i) => ({ _id: i, goes: true, v: new Int32(i) })) as Document[]);
    const before = bytesOf(await storedDocuments(db, 'docs'));
    const runner = inProcessRunner(db, database.name);
    const run = await runner.run(archiveTask());
    expect(run.result).toMatchObject({ written: 3 });
    await db.collection<Document>('docs_archive').deleteOne({ _id: 2 } as Document);
    const restore = await runner.restore(run._id);
    expect(restore.status, restore.error?.message).toBe('succeeded');
    expect(restore.restore).toMatchObject({ restored: 3, conflicts: 0 });
    expect(bytesOf(await storedDocuments(db, 'docs'))).toBe(before);
    expect(await db.collection('docs_archive').countDocuments()).toBe(0);
  });

  it('refuses an archive into its own collection, its database named or not: nothing written', async () => {
    const db = database.db();
    await db.collection<Document>('docs').insertMany([1, 2].map((i) => ({ _id: i, goes: true })) as Document[]);
    const before = bytesOf(await storedDocuments(db, 'docs'));
    const runner = inProcessRunner(db, database.name);
    for (const into of [{ collection: 'docs' }, { collection: 'docs', database: database.name }]) {
      const run = await runner.run(archiveTask(into));
      expect(run.status).toBe('failed');
      expect(run.error).toMatchObject({ step: 'plan', message: expect.stringMatching(/moves .*docs into itself/) });
      expect(run.backup).toEqual({ state: 'not-reached' });
    }
    expect(bytesOf(await storedDocuments(db, 'docs'))).toBe(before);
  });

  it('moves documents into a collection of another database on the same deployment, and back', async () => {
    const db = database.db();
    const other = database.client().db(`${database.name}_cold`);
    try {
      await db.collection('docs').insertMany([1, 2].map((i) => ({ _id: i, goes: true })) as Document[]);
      const runner = inProcessRunner(db, database.name);
      const run = await runner.run(archiveTask({ collection: 'docs', database: `${database.name}_cold` } as never));
      expect(run.status, run.error?.message).toBe('succeeded');
      expect(run.plan).toMatchObject({ kind: 'archive', into: `${database.name}_cold.docs` });
      expect(await other.collection('docs').countDocuments()).toBe(2);
      expect(await db.collection('docs').countDocuments()).toBe(0);
      const restore = await runner.restore(run._id);
      expect(restore.restore).toMatchObject({ restored: 2 });
      expect(await other.collection('docs').countDocuments()).toBe(0);
      expect(await db.collection('docs').countDocuments()).toBe(2);
    } finally {
      await other.dropDatabase().catch(() => undefined);
    }
  });
});
