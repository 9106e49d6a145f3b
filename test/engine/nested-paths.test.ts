import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { EJSON } from 'bson';
import fc from 'fast-check';
import { Double, Int32, type Document } from 'mongodb';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunObserver } from '../../src/engine/ports.ts';
import { silentObserver } from '../../src/engine/observer.ts';
import type { FieldChange } from '../../src/engine/task.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { inProcessRunner, storedDocuments, taskOf } from './in-process.ts';

const database = useTestDatabase('nested');
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 2 ** 31);
const ROUNDS = Number(process.env.NESTED_ROUNDS ?? 12);
const FIELDS = ['p.a', 'p.b', 'q.r.s', 't'] as const;

// The test's own reading of a path, independent of the engine's: a parent that is not a plain object blocks it.
function isPlainObject(value: unknown): value is Document {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  // fast-check's records have no prototype; the driver's documents have Object's.
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

function blocked(document: Document, path: string): boolean {
  let current: unknown = document;
  for (const segment of path.split('.')) {
    if (!isPlainObject(current)) return true;
    if (!(segment in current)) return false;
    current = current[segment];
  }
  return false;
}

function applyChange(document: Document, change: FieldChange): Document {
  const copy = EJSON.deserialize(EJSON.serialize(document, { relaxed: false }), { relaxed: false }) as Document;
  for (const [path, value] of Object.entries(change.set ?? {})) {
    const segments = path.split('.');
    let parent = copy;
    for (const segment of segments.slice(0, -1)) parent = (parent[segment] ??= {}) as Document;
    parent[segments.at(-1)!] = value;
  }
  for (const path of change.unset ?? []) {
    const segments = path.split('.');
    let parent: Document | undefined = copy;
    for (const segment of segments.slice(0, -1)) parent = parent?.[segment] as Document | undefined;
    if (parent !== undefined) delete parent[segments.at(-1)!];
  }
  return copy;
}

/** Values and types, whatever the order of fields: what restore promises when the run removed a field. */
function valuesOf(document: unknown): unknown {
  if (Array.isArray(document)) return document.map(valuesOf);
  if (!isPlainObject(document)) return EJSON.serialize({ v: document }, { relaxed: false });
  return Object.fromEntries(Object.keys(document).sort().map((key) => [key, valuesOf(document[key])]));
}

/** Field order and types too: what restore promises when the run removed nothing. */
const bytesOf = (documents: Document[]) => EJSON.stringify(documents, { relaxed: false });

const leaf = fc.oneof(
  fc.constant(null),
  fc.integer({ min: -1000, max: 1000 }).map((n) => new Int32(n)),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).filter((n) => !Object.is(n, -0)).map((n) => new Double(n)),
  fc.string({ maxLength: 6 }),
  fc.boolean(),
  fc.date({ min: new Date('2000-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }),
  fc.array(fc.integer({ min: 0, max: 9 }).map((n) => new Int32(n)), { maxLength: 3 }),
  fc.record({ x: fc.integer({ min: 0, max: 9 }).map((n) => new Int32(n)) }),
);
const absent = fc.constant(undefined);
const p = fc.oneof(
  absent,
  fc.constant(null),
  fc.constant('text'),
  fc.constant([{ a: new Int32(1) }]),
  fc.record({ a: fc.oneof(absent, leaf), n: leaf, b: fc.oneof(absent, leaf) }),
);
const q = fc.oneof(absent, fc.constant('x'), fc.constant({}), fc.record({ r: fc.oneof(absent, fc.constant([]), fc.constant(new Int32(5)), fc.record({ s: fc.oneof(absent, leaf), x: leaf })) }));
const documents = fc.array(fc.record({ p, q, t: fc.oneof(absent, leaf) }), { minLength: 1, maxLength: 12 }).map((drawn) =>
  drawn.map((fields, index) => {
    const document: Document = { _id: index, name: `u${index}` };
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      // fast-check's records may hold undefined members: a stored document has none.
      document[key] = isPlainObject(value) ? Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) : value;
      if (isPlainObject(document[key]) && isPlainObject((document[key] as Document).r)) {
        const r = (document[key] as Document).r as Document;
        (document[key] as Document).r = Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
      }
    }
    return document;
  }),
);
const changes = fc
  .tuple(...FIELDS.map(() => fc.oneof(fc.record({ op: fc.constant('set' as const), value: leaf }), fc.constant({ op: 'unset' as const }), fc.constant({ op: 'keep' as const }))))
  .filter((ops) => ops.some((op) => op.op !== 'keep'))
  .map((ops): FieldChange => ({
    set: Object.fromEntries(ops.flatMap((op, index) => (op.op === 'set' ? [[FIELDS[index]!, op.value]] : []))),
    unset: ops.flatMap((op, index) => (op.op === 'unset' ? [FIELDS[index]!] : [])),
  }));

function pathsTask(change: FieldChange, extra: { fields?: string[] } = {}) {
  return taskOf('nested-paths', () => ({ collection: 'docs', filter: {}, fields: extra.fields ?? [...FIELDS], change: () => change }));
}

afterAll(() => console.log(`nested paths: seed ${SEED}, ${ROUNDS} round trips`));
beforeEach(async () => {
  await database.db().collection('docs').drop().catch(() => undefined);
});

describe('nested paths in an update plan', () => {
  it(`${ROUNDS} random round trips: malformed documents are left alone, run writes each path, restore gives the collection back`, async () => {
    const db = database.db();
    const runner = inProcessRunner(db, database.name);
    await fc.assert(
      fc.asyncProperty(documents, changes, async (seeded, change) => {
        await db.collection('docs').deleteMany({});
        await db.collection('docs').insertMany(seeded);
        const original = await storedDocuments(db, 'docs');
        const malformed = original.filter((document) => FIELDS.some((path) => blocked(document, path)));

        const run = await runner.run(pathsTask(change));
        const context = `change ${EJSON.stringify(change)}\n${EJSON.stringify(original, { relaxed: false })}\n${run.error?.message ?? ''}`;
        expect(run.status, context).toBe('succeeded');
        expect(run.plan, context).toMatchObject({ count: original.length - malformed.length });
        expect(run.plan.state === 'done' ? (run.plan.malformed?.count ?? 0) : -1, context).toBe(malformed.length);
        const afterRun = await storedDocuments(db, 'docs');
        afterRun.forEach((document, index) => {
          const before = original[index]!;
          if (malformed.includes(before)) expect(bytesOf([document]), context).toBe(bytesOf([before]));
          else expect(valuesOf(document), context).toEqual(valuesOf(applyChange(before, change)));
        });

        const restore = await runner.restore(run._id);
        expect(restore.status, context).toBe('succeeded');
        const restored = await storedDocuments(db, 'docs');
        if ((change.unset ?? []).length === 0) expect(bytesOf(restored), context).toBe(bytesOf(original));
        else expect(valuesOf(restored), context).toEqual(valuesOf(original));

        const again = await runner.restore(run._id);
        expect(again.restore, context).toMatchObject({ restored: 0, conflicts: 0 });
        expect(bytesOf(await storedDocuments(db, 'docs')), context).toBe(bytesOf(restored));
      }),
      { numRuns: ROUNDS, seed: SEED, endOnFailure: true },
    );
  }, 600_000);

  it('restores byte for byte when the run removed nothing: created values and parents go, set values come back in place', async () => {
    const db = database.db();
    const seeded = [
      { _id: 1, name: 'ada', profile: { mail: 'A@x', name: 'Ada' }, tail: 1 },
      { _id: 2, name: 'bob', tail: 2 },
      { _id: 3, name: 'cy', settings: {}, tail: 3 },
    ] as Document[];
    await db.collection<Document>('docs').insertMany(seeded);
    const before = await storedDocuments(db, 'docs');
    const runner = inProcessRunner(db, database.name);
    const task = taskOf('set-nested', () => ({
      collection: 'docs',
      filter: {},
      fields: ['profile.mail', 'settings.notifications.email'],
      change: () => ({ set: { 'profile.mail': 'a@x', 'settings.notifications.email': true } }),
    }));

    const run = await runner.run(task);
    expect(run.result).toMatchObject({ written: 3, skipped: 0 });
    expect(await db.collection('docs').findOne({ _id: 2 as never })).toEqual({
      _id: 2,
      name: 'bob',
      tail: 2,
      profile: { mail: 'a@x' },
      settings: { notifications: { email: true } },
    });

    const restore = await runner.restore(run._id);
    expect(restore.restore).toMatchObject({ restored: 3, conflicts: 0 });
    expect(bytesOf(await storedDocuments(db, 'docs'))).toBe(bytesOf(before));
  });

  it('skips and counts a document whose nested value another writer changed between plan and write, and leaves its value', async () => {
    const db = database.db();
    const docs = db.collection<{ _id: number } & Document>('docs');
    await docs.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i, profile: { mail: `U${i}@X`, device: 'web' } })));
    let otherWriter: Promise<unknown> = Promise.resolve();
    const observer: RunObserver = {
      ...silentObserver,
      stepFinished: (step) => {
        if (step !== 'backup') return;
        // One changes the compared path; another only a neighbour in the same sub-document, which is not compared.
        otherWriter = Promise.all([
          docs.updateOne({ _id: 3 }, { $set: { 'profile.mail': 'mine@x' } }),
          docs.updateOne({ _id: 6 }, { $set: { 'profile.device': 'ios' } }),
        ]);
      },
    };
    const task = taskOf('lower-mail', () => ({
      collection: 'docs',
      filter: {},
      fields: ['profile.mail'],
      change: (document) => ({ set: { 'profile.mail': String((document.profile as Document).mail).toLowerCase() } }),
    }));

    const run = await inProcessRunner(db, database.name).run(task, { observer, beforeBatch: async () => void (await otherWriter) });

    expect(run.status).toBe('succeeded');
    expect(run.result).toMatchObject({ planned: 10, written: 9, skipped: 1, failed: 0, remaining: 0 });
    expect(await docs.findOne({ _id: 3 })).toEqual({ _id: 3, profile: { mail: 'mine@x', device: 'web' } });
    expect(await docs.findOne({ _id: 6 })).toEqual({ _id: 6, profile: { mail: 'u6@x', device: 'ios' } });
  });

  it('a document whose nested path became blocked by an array between plan and write is skipped, not failed', async () => {
    const db = database.db();
    const docs = db.collection<{ _id: number } & Document>('docs');
    await docs.insertMany(Array.from({ length: 4 }, (_, i) => ({ _id: i, profile: { mail: 'A' } })));
    let otherWriter: Promise<unknown> = Promise.resolve();
    const observer: RunObserver = {
      ...silentObserver,
      stepFinished: (step) => {
        if (step === 'backup') otherWriter = docs.updateOne({ _id: 2 }, { $set: { profile: [{ mail: 'A' }] } });
      },
    };
    const task = taskOf('lower', () => ({ collection: 'docs', filter: {}, fields: ['profile.mail'], change: () => ({ set: { 'profile.mail': 'a' } }) }));

    const run = await inProcessRunner(db, database.name).run(task, { observer, beforeBatch: async () => void (await otherWriter) });

    expect(run.status).toBe('succeeded');
    expect(run.result).toMatchObject({ written: 3, skipped: 1, failed: 0 });
    expect(await docs.findOne({ _id: 2 })).toEqual({ _id: 2, profile: [{ mail: 'A' }] });
  });

  it('says which matched documents it left alone as malformed, and why', async () => {
    const db = database.db();
    await db.collection('docs').insertMany([
      { _id: 1, profile: { mail: 'A' } },
      { _id: 2, profile: [{ mail: 'A' }] },
      { _id: 3, profile: 'A' },
      { _id: 4, profile: null },
      { _id: 5 },
    ] as Document[]);
    const before = await collectionChecksum(db, 'docs');
    const task = taskOf('lower', () => ({ collection: 'docs', filter: {}, fields: ['profile.mail'], change: () => ({ set: { 'profile.mail': 'a' } }) }));

    const dry = await inProcessRunner(db, database.name).run(task, { dryRun: true });

    expect(dry.status).toBe('succeeded');
    expect(dry.plan).toMatchObject({ count: 2, malformed: { count: 3 } });
    const notice = dry.notices.find((line) => line.includes('malformed'));
    expect(notice).toContain('3 matched document(s) left alone as malformed');
    expect(notice).toContain('2: "profile" is an array, so "profile.mail" cannot be written in it');
    expect(notice).toContain('3: "profile" is a string');
    expect(notice).toContain('4: "profile" is null');
    expect(await collectionChecksum(db, 'docs')).toBe(before);
  });
});

describe('a backup made before paths existed', () => {
  it('restores as it did: top-level names are paths of one segment', async () => {
    const db = database.db();
    await db.collection<{ _id: number } & Document>('docs').insertMany([
      { _id: 1, email: 'ada@x', emailNormalizedAt: new Date('2026-11-01T00:00:00Z') },
      { _id: 2, email: 'bob@x', emailNormalizedAt: new Date('2026-11-01T00:00:00Z') },
    ]);
    const runner = inProcessRunner(db, database.name);
    // Written byte for byte as the release before paths wrote it: no createdParents, no targeting.
    const lines = [
      { _id: 1, before: { email: ' Ada@X ' }, absent: ['emailNormalizedAt'], set: { email: 'ada@x', emailNormalizedAt: new Date('2026-11-01T00:00:00Z') }, unset: [] },
      { _id: 2, before: { email: 'BOB@x', emailNormalizedAt: new Date('2026-10-01T00:00:00Z') }, absent: [], set: { email: 'bob@x', emailNormalizedAt: new Date('2026-11-01T00:00:00Z') }, unset: [] },
    ].map((entry) => EJSON.stringify(entry, { relaxed: false }) + '\n');
    const data = gzipSync(lines.join(''));
    const dir = join(runner.backupDir, 'run-before-paths');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'documents.ejson.gz'), data);
    const manifest = {
      format: 1,
      runId: 'run-before-paths',
      task: { id: 'normalize-emails', version: 1, checksum: 'c' },
      target: { uri: 'mongodb://127.0.0.1/', database: database.name },
      collection: 'docs',
      kind: 'documents',
      fields: ['email', 'emailNormalizedAt'],
      complete: true,
      count: 2,
      bytes: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
      createdAt: '2026-11-01T00:00:00.000Z',
      completedAt: '2026-11-01T00:00:01.000Z',
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));

    const restore = await runner.restore('run-before-paths');

    expect(restore.status).toBe('succeeded');
    expect(restore.restore).toMatchObject({ restored: 2, conflicts: 0 });
    expect(await storedDocuments(db, 'docs')).toEqual([
      { _id: new Int32(1), email: ' Ada@X ' },
      { _id: new Int32(2), email: 'BOB@x', emailNormalizedAt: new Date('2026-10-01T00:00:00Z') },
    ]);
  });
});

describe('a plan that is not one of the kinds', () => {
  const refusals: Array<[string, () => unknown, RegExp]> = [
    ['names a path and its parent', () => ({ collection: 'docs', filter: {}, fields: ['profile', 'profile.mail'], change: () => ({}) }), /its update plan "fields" names both "profile" and "profile.mail", which is inside it/],
    ['mixes two kinds', () => ({ collection: 'docs', filter: {}, fields: ['a'], change: () => ({}), indexes: [] }), /its update plan has "indexes" \(of a indexes plan\), which it does not take/],
    ['has an unknown kind', () => ({ kind: 'truncate', collection: 'docs' }), /its plan's kind "truncate" is not one of: update, indexes/],
    ['names a path with an empty segment', () => ({ collection: 'docs', filter: {}, fields: ['a..b'], change: () => ({}) }), /"a\.\.b" has an empty segment/],
    ['names a path under _id', () => ({ collection: 'docs', filter: {}, fields: ['_id.x'], change: () => ({}) }), /"_id\.x" is _id or inside it/],
    ['names an operator', () => ({ collection: 'docs', filter: {}, fields: ['a.$b'], change: () => ({}) }), /"a\.\$b" has a segment starting with "\$"/],
    ['is an index plan with update fields', () => ({ kind: 'indexes', collection: 'docs', indexes: [], filter: {} }), /its indexes plan has "filter" \(of a update plan\)/],
    ['has no change', () => ({ collection: 'docs', filter: {}, fields: ['a'] }), /its update plan "change" must be a function/],
  ];
  for (const [rule, plan, message] of refusals) {
    it(`is refused at plan when it ${rule}, naming the task, nothing written`, async () => {
      const db = database.db();
      await db.collection('docs').insertOne({ _id: 1 as never, profile: { mail: 'A' } });
      const before = await collectionChecksum(db, 'docs');
      const run = await inProcessRunner(db, database.name).run(taskOf('bad-plan', plan as never));
      expect(run.status).toBe('failed');
      expect(run.error).toMatchObject({ step: 'plan', code: 1 });
      expect(run.error?.message).toMatch(/^task bad-plan: /);
      expect(run.error?.message).toMatch(message);
      expect(run.backup).toMatchObject({ state: 'not-reached' });
      expect(await collectionChecksum(db, 'docs')).toBe(before);
    });
  }
});
