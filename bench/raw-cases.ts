import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { EJSON } from 'bson';
import type { AnyBulkWriteOperation, Collection, Document, Filter } from 'mongodb';
import type { PresenceModel } from '../src/presence/model.ts';
import { staleFilter } from '../src/presence/queries.ts';

/**
 * What the tool is measured against: the same work written by hand with the
 * driver, and the old scripts' single `updateMany`. None of it imports the engine.
 */

const MAJORITY = { w: 'majority' } as const;

export interface CaseTiming {
  /** Documents changed. */
  written: number;
  /** Wall time of the work, ms, by step. */
  stepMs: Record<string, number>;
  totalMs: number;
}

/** The old way: one `updateMany`, no backup, no compare-and-set. */
export async function naive(users: Collection, model: PresenceModel, cutoff: Date): Promise<CaseTiming> {
  const started = performance.now();
  const result = await users.updateMany(staleFilter(model, cutoff), { $set: { [model.online.field]: false } });
  const totalMs = performance.now() - started;
  return { written: result.modifiedCount, stepMs: { apply: totalMs }, totalMs };
}

/** A field's value by its path, as a script reads a sub-document. */
function at(document: Document, path: string): unknown {
  return path.split('.').reduce<unknown>((value, segment) => (value as Document | undefined)?.[segment], document);
}

/**
 * The safe work by hand: stream the matching documents' pre-images to a
 * gzip'd EJSON-lines file and sync it, then read it back in batches and write
 * each batch as one ordered `bulkWrite` of compare-and-set updates, on the
 * model's paths (top-level or in a sub-document) as a script would write them.
 */
export async function rawSafe(users: Collection, model: PresenceModel, cutoff: Date, batchSize: number, backupFile: string): Promise<CaseTiming> {
  const online = model.online.field;
  const lastSeen = model.lastSeenField;
  const started = performance.now();
  const cursor = users.find(staleFilter(model, cutoff), {
    projection: { _id: 1, [online]: 1, [lastSeen]: 1 },
    batchSize,
    promoteValues: false,
  });
  async function* lines() {
    for await (const document of cursor) yield EJSON.stringify(document, { relaxed: false }) + '\n';
  }
  await pipeline(Readable.from(lines()), createGzip({ level: 6 }), createWriteStream(backupFile, { mode: 0o600 }));
  const file = await open(backupFile, 'r+');
  await file.sync();
  await file.close();
  const backedUp = performance.now();

  let written = 0;
  let batch: AnyBulkWriteOperation[] = [];
  const flush = async () => {
    written += (await users.bulkWrite(batch, { ordered: true })).matchedCount;
    batch = [];
  };
  const input = createInterface({ input: createReadStream(backupFile).pipe(createGunzip()), crlfDelay: Infinity });
  for await (const line of input) {
    const before = EJSON.parse(line, { relaxed: false }) as Document;
    batch.push({
      updateOne: {
        filter: { _id: before._id, [online]: { $eq: at(before, online) }, [lastSeen]: { $eq: at(before, lastSeen) } },
        update: { $set: { [online]: false } },
      },
    });
    if (batch.length === batchSize) await flush();
  }
  if (batch.length > 0) await flush();
  const applied = performance.now();
  return {
    written,
    stepMs: { backup: backedUp - started, apply: applied - backedUp },
    totalMs: applied - started,
  };
}

/** The bare minimum of a plan: the count and a sample of five, as a hand-written script asks for them. */
export async function barePlan(users: Collection, model: PresenceModel, cutoff: Date): Promise<CaseTiming & { count: number }> {
  const started = performance.now();
  const filter = staleFilter(model, cutoff);
  const [count] = await Promise.all([
    users.countDocuments(filter),
    users.find(filter, { projection: { _id: 1, [model.online.field]: 1, [model.lastSeenField]: 1 }, limit: 5 }).toArray(),
  ]);
  const totalMs = performance.now() - started;
  return { written: 0, count, stepMs: { plan: totalMs }, totalMs };
}

/** Streams the matching documents, whole and with their stored types, to a gzip'd canonical EJSON-lines file, synced. */
async function backUpWhole(collection: Collection, filter: Filter<Document>, batchSize: number, backupFile: string): Promise<void> {
  const cursor = collection.find(filter, { batchSize, promoteValues: false });
  async function* lines() {
    for await (const document of cursor) yield EJSON.stringify(document, { relaxed: false }) + '\n';
  }
  await pipeline(Readable.from(lines()), createGzip({ level: 6 }), createWriteStream(backupFile, { mode: 0o600 }));
  const file = await open(backupFile, 'r+');
  await file.sync();
  await file.close();
}

/** The backup read back, a batch of documents at a time. */
async function* readBack(backupFile: string, batchSize: number): AsyncGenerator<Document[]> {
  const input = createInterface({ input: createReadStream(backupFile).pipe(createGunzip()), crlfDelay: Infinity });
  let batch: Document[] = [];
  for await (const line of input) {
    batch.push(EJSON.parse(line, { relaxed: false }) as Document);
    if (batch.length === batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * Deletes the document only while every top-level field it had when backed up
 * holds the same value: equal, and not become an array (an equality also
 * matches an array holding the value); null must be null, not missing.
 */
function deleteIfUnchanged(document: Document): AnyBulkWriteOperation {
  const filter: Document = { _id: document._id };
  for (const [field, value] of Object.entries(document)) {
    if (field === '_id') continue;
    const notArray = { $not: { $type: 'array' } };
    filter[field] = Array.isArray(value) ? { $eq: value } : value === null ? { $type: 'null', ...notArray } : { $eq: value, ...notArray };
  }
  return { deleteOne: { filter } };
}

/** One `delete` command of conditional deletes; how many went. */
async function deleteUnchanged(collection: Collection, documents: readonly Document[]): Promise<number> {
  return (await collection.bulkWrite(documents.map(deleteIfUnchanged), { ordered: true, writeConcern: MAJORITY })).deletedCount;
}

/**
 * A purge by hand: back up the matching documents whole, then per batch one
 * `delete` command of deletes conditional on the document backed up.
 */
export async function rawPurge(users: Collection, filter: Filter<Document>, batchSize: number, backupFile: string): Promise<CaseTiming> {
  const started = performance.now();
  await backUpWhole(users, filter, batchSize, backupFile);
  const backedUp = performance.now();
  let written = 0;
  for await (const batch of readBack(backupFile, batchSize)) written += await deleteUnchanged(users, batch);
  const applied = performance.now();
  return { written, stepMs: { backup: backedUp - started, apply: applied - backedUp }, totalMs: applied - started };
}

/**
 * The batch's documents still as backed up, read back in one `find`: copying
 * from the backup blindly would archive a document deleted or changed since.
 */
async function stillAsBackedUp(collection: Collection, batch: readonly Document[]): Promise<Document[]> {
  const current = new Map<string, string>();
  const ids: Document = { $in: batch.map((document) => document._id as unknown) };
  const found = collection.find({ _id: ids }, { promoteValues: false });
  for await (const document of found) current.set(EJSON.stringify(document._id), EJSON.stringify(document, { relaxed: false }));
  return batch.filter((document) => current.get(EJSON.stringify(document._id)) === EJSON.stringify(document, { relaxed: false }));
}

/**
 * An archive by hand: back up the matching documents whole, then per batch
 * read which are still as backed up, one `insert` of their copies into the
 * archive, acknowledged by a majority, and only then one `delete` command of
 * conditional deletes from the source.
 */
export async function rawArchive(users: Collection, archive: Collection, filter: Filter<Document>, batchSize: number, backupFile: string): Promise<CaseTiming> {
  const started = performance.now();
  await backUpWhole(users, filter, batchSize, backupFile);
  const backedUp = performance.now();
  let written = 0;
  for await (const batch of readBack(backupFile, batchSize)) {
    const unchanged = await stillAsBackedUp(users, batch);
    if (unchanged.length === 0) continue;
    await archive.insertMany(unchanged, { ordered: false, writeConcern: MAJORITY });
    written += await deleteUnchanged(users, unchanged);
  }
  const applied = performance.now();
  return { written, stepMs: { backup: backedUp - started, apply: applied - backedUp }, totalMs: applied - started };
}
