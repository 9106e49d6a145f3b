import type { Document, ObjectId } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RestoreRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { ARCHIVE, COLLECTION, FIXTURES, REMOVAL_KINDS, seedSessions, snapshot } from '../support/marked-documents.ts';
import { answerAsMongos, commandOf } from '../support/mongos.ts';
import { reachedStep } from '../support/records.ts';
import { messageDocuments, startTcpProxy, type SeenCommand, type TcpProxy } from '../support/tcp-proxy.ts';

/**
 * A purge and an archive on a sharded collection, through a wire proxy that answers as a mongos: with
 * `--shard-key device.kind`, every delete, every re-read of a document and every restore lookup names the document's
 * shard key value, so it reaches one shard. The key is an embedded field on purpose: a delete's condition compares the
 * whole sub-document `device`, which would carry a top-level key's value even without targeting.
 */
const database = useTestDatabase('delarchshard');
/** Only the embedded engine may have `config.collections` written by a test; a real server's is the cluster's own. */
const real = process.env.MONGODB_TEST_URI !== undefined;
const GOING = 9;
const STAYING = 3;
const SHARD_KEY = 'device.kind';
let proxy: TcpProxy;
let undoMongos: () => void;
let stateDir: string;
/** The shard key value of each seeded document, by `_id`. */
let keyOf: Map<string, string>;
/** Each seeded document's region and user (as hex), by `_id`. */
let regionOf: Map<string, string>;
let userOf: Map<string, string>;

/** Declares, as a cluster's config server would, the shard key of each collection named (and of no other of this database). */
async function shardedOn(keys: Record<string, Document>): Promise<void> {
  const collections = database.client().db('config').collection<{ _id: string; key: Document }>('collections');
  await collections.deleteMany({ _id: { $in: [COLLECTION, ARCHIVE].map((name) => `${database.name}.${name}`) } });
  for (const [name, key] of Object.entries(keys)) await collections.insertOne({ _id: `${database.name}.${name}`, key });
}

beforeAll(async () => {
  proxy = await startTcpProxy(database.uri());
  undoMongos = answerAsMongos(proxy);
});
afterAll(async () => {
  undoMongos?.();
  await proxy?.close();
  if (!real) await shardedOn({});
});
beforeEach(async () => {
  stateDir = tempStateDir();
  await seedSessions(database.db(), GOING, STAYING);
  const seeded = await database.db().collection<{ _id: string; region: string; user: ObjectId; device: { kind: string } }>(COLLECTION).find().toArray();
  keyOf = new Map(seeded.map((document) => [document._id, document.device.kind]));
  regionOf = new Map(seeded.map((document) => [document._id, document.region]));
  userOf = new Map(seeded.map((document) => [document._id, document.user.toHexString()]));
});

function presence(args: string[]) {
  return runCli([...args, '--uri', proxy.uri, '--tasks-dir', FIXTURES, '--json'], { env: { PRESENCE_STATE_DIR: stateDir }, timeoutMs: 90_000 });
}

/** What the tool sent for the source and the archive collection while `during` ran: delete statements, find filters, inserted documents. */
async function observed<T>(during: () => Promise<T>) {
  const seen = { deletes: [] as Array<{ collection: string; q: Document }>, finds: [] as Array<{ collection: string; filter: Document }>, inserts: [] as Array<{ collection: string; document: Document }> };
  const stop = proxy.onCommand((request: SeenCommand) => {
    const collection = request.collection;
    if (collection !== COLLECTION && collection !== ARCHIVE) return;
    const [command, ...sequence] = messageDocuments(request.message);
    if (request.command === 'delete') for (const statement of command?.deletes ?? sequence) seen.deletes.push({ collection, q: statement.q as Document });
    if (request.command === 'find') seen.finds.push({ collection, filter: commandOf(request).filter as Document });
    if (request.command === 'insert') for (const document of command?.documents ?? sequence) seen.inserts.push({ collection, document });
  });
  try {
    return { result: await during(), ...seen };
  } finally {
    stop();
  }
}

/** A filter names one document with its shard key value, as the seed gave it. */
function expectTargeted(filter: Document): void {
  expect(filter._id, JSON.stringify(filter)).toBeDefined();
  expect(filter[SHARD_KEY], JSON.stringify(filter)).toEqual({ $eq: keyOf.get(filter._id as string) });
}

/** Every find that looks documents up by `_id` (all but the plan's own query) names each with its shard key value. */
function expectTargetedLookups(finds: ReadonlyArray<{ filter: Document }>): number {
  const lookups = finds.filter(({ filter }) => filter.goes === undefined);
  for (const { filter } of lookups) {
    expect(filter.$or, `a lookup without the shard key: ${JSON.stringify(filter)}`).toBeDefined();
    for (const clause of filter.$or as Document[]) expectTargeted(clause);
  }
  return lookups.length;
}

describe.each(REMOVAL_KINDS)('a $kind plan ($task) with --shard-key through a mongos', (kind) => {
  it('every delete and every lookup of the run and of its restore carries the shard key value; the restore is byte for byte', async () => {
    const pristine = await snapshot(database.db());
    const run = await observed(() => presence(['run', kind.task, '--shard-key', SHARD_KEY, '--batch-size', '4']));
    expect(run.result.code, run.result.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(run.result.stdout);
    expect(reachedStep('plan', record.plan).targeting).toEqual({ fields: [SHARD_KEY], source: 'flag' });
    expect(reachedStep('apply', record.result)).toMatchObject({ planned: GOING, written: GOING, skipped: 0 });

    const sourceDeletes = run.deletes.filter((statement) => statement.collection === COLLECTION);
    expect(sourceDeletes).toHaveLength(GOING);
    for (const { q } of run.deletes) expectTargeted(q);
    expect(expectTargetedLookups(run.finds)).toBeGreaterThan(0);
    if (kind.kind === 'archive') {
      expect(run.inserts.map(({ collection }) => collection)).toEqual(Array(GOING).fill(ARCHIVE));
      for (const { document } of run.inserts) expect(document.device.kind).toBe(keyOf.get(document._id));
    }

    const restore = await observed(() => presence(['restore', record._id]));
    expect(restore.result.code, restore.result.stderr).toBe(0);
    const restored = parseJson<RestoreRecord>(restore.result.stdout);
    expect(reachedStep('plan', restored.plan).targeting).toEqual({ fields: [SHARD_KEY], source: 'flag' });
    expect(reachedStep('restore', restored.restore)).toMatchObject({ restored: GOING, conflicts: 0 });
    expect(expectTargetedLookups(restore.finds)).toBeGreaterThan(0);
    expect(restore.inserts.filter(({ collection }) => collection === COLLECTION)).toHaveLength(GOING);
    for (const { document } of restore.inserts) expect(document.device.kind).toBe(keyOf.get(document._id));
    for (const { q } of restore.deletes) expectTargeted(q);
    if (kind.kind === 'archive') expect(restore.deletes.filter(({ collection }) => collection === ARCHIVE)).toHaveLength(GOING);
    expect(await snapshot(database.db())).toEqual(pristine);
  });
});

describe.skipIf(real)('an archive between collections sharded on different keys, read from config.collections', () => {
  it("the source's lookups carry the source's key, the archive's lookups and deletes the archive's own", async () => {
    // Top-level keys (the embedded engine refuses a dotted key in a stored document): the lookups tell them apart.
    await shardedOn({ [COLLECTION]: { region: 'hashed' }, [ARCHIVE]: { user: 1 } });
    try {
      const pristine = await snapshot(database.db());
      const run = await observed(() => presence(['run', 'archive-marked', '--batch-size', '4']));
      expect(run.result.code, run.result.stderr).toBe(0);
      const record = parseJson<TaskRunRecord>(run.result.stdout);
      expect(reachedStep('plan', record.plan).targeting).toEqual({ fields: ['region'], source: 'detected' });
      expect(reachedStep('apply', record.result)).toMatchObject({ written: GOING, skipped: 0 });

      const restore = await observed(() => presence(['restore', record._id]));
      expect(restore.result.code, restore.result.stderr).toBe(0);
      expect(reachedStep('restore', parseJson<RestoreRecord>(restore.result.stdout).restore)).toMatchObject({ restored: GOING, conflicts: 0 });
      expect(await snapshot(database.db())).toEqual(pristine);

      const lookups = (collection: string) =>
        [...run.finds, ...restore.finds].filter((seen) => seen.collection === collection && seen.filter.goes === undefined).flatMap(({ filter }) => (filter.$or ?? [filter]) as Document[]);
      const sourceLookups = lookups(COLLECTION);
      const archiveLookups = lookups(ARCHIVE);
      expect(sourceLookups.length).toBeGreaterThanOrEqual(GOING);
      expect(archiveLookups.length).toBeGreaterThanOrEqual(GOING);
      for (const filter of sourceLookups) expect(filter, JSON.stringify(filter)).toEqual({ _id: filter._id, region: { $eq: regionOf.get(filter._id as string) } });
      for (const filter of archiveLookups) {
        expect(Object.keys(filter), JSON.stringify(filter)).toEqual(['_id', 'user']);
        expect(String(filter.user.$eq)).toBe(userOf.get(filter._id as string));
      }
      // The delete's condition on the whole document holds the key's value (with "not an array"): one shard still.
      const sourceDeletes = run.deletes.filter((seen) => seen.collection === COLLECTION);
      expect(sourceDeletes).toHaveLength(GOING);
      for (const { q } of sourceDeletes) expect(q.region).toMatchObject({ $eq: regionOf.get(q._id as string) });
      const archiveDeletes = restore.deletes.filter((seen) => seen.collection === ARCHIVE);
      expect(archiveDeletes).toHaveLength(GOING);
      for (const { q } of archiveDeletes) expect(String(q.user.$eq)).toBe(userOf.get(q._id as string));
    } finally {
      await shardedOn({});
    }
  });
});
