import { ObjectId, type Collection, type Db, type Document } from 'mongodb';
import { presenceModelOf, type PresenceModel } from '../src/presence/model.ts';
import { recommendedPresenceIndexes } from '../src/presence/indexes.ts';
import { presenceModelParams } from '../src/presence/settings.ts';

/** The presence model the tool uses when nothing is configured: boolean `isOnline`, Date `lastSeen`. */
export const model: PresenceModel = presenceModelOf(presenceModelParams.parse({}));

/** The same presence kept in a sub-document beside a neighbour: `presence: { online, lastSeen, device }`. */
export const nestedModel: PresenceModel = { ...model, online: { kind: 'boolean', field: 'presence.online' }, lastSeenField: 'presence.lastSeen' };

/** The flags that point the tool at the nested model. */
export const NESTED_FLAGS = ['--online-field', 'presence.online', '--last-seen-field', 'presence.lastSeen'];

/**
 * Stale means inactive for more than a day: the active users' last activity
 * (within 5 minutes of the seed) stays fresh however long the bench runs.
 */
export const STALE_MINUTES = 1440;

const DAY_MS = 86_400_000;
const INSERT_BATCH = 1000;

/**
 * A known mix, in 20-user cycles: 3 online and stale, 3 online and active,
 * 14 offline. 30% online, half of them stale. Stale users were last seen in
 * a window no other user falls in, two days before the seed, so a reset
 * brings exactly them back online.
 */
export function userAt(i: number, seededAt: number, nested = false): Document {
  const kind = i % 20;
  const online = kind < 6;
  const lastSeen =
    kind < 3
      ? seededAt - 2 * DAY_MS - (i % 3600) * 1000
      : kind < 6
        ? seededAt - (i % 300) * 1000
        : seededAt - 4 * DAY_MS - (i % (30 * 86_400)) * 1000;
  const presence = nested
    ? { presence: { online, lastSeen: new Date(lastSeen), device: i % 2 ? 'web' : 'ios' } }
    : { [model.online.field]: online, [model.lastSeenField]: new Date(lastSeen) };
  return {
    _id: new ObjectId(),
    name: `user ${i}`,
    email: `user${i}@example.com`,
    ...presence,
    createdAt: new Date(seededAt - 90 * DAY_MS + i),
    plan: i % 7 === 0 ? 'team' : 'free',
  };
}

export function staleCountOf(users: number): number {
  return Math.floor(users / 20) * 3 + Math.min(users % 20, 3);
}

export interface Population {
  collection: string;
  /** Presence at the top level, or in the sub-document `presence`. */
  model: PresenceModel;
  users: number;
  stale: number;
  seededAt: number;
}

/** Drops and seeds the collection, with the presence index the tool recommends. */
export async function seedUsers(
  db: Db,
  collection: string,
  users: number,
  onProgress: (done: number) => void = () => {},
  nested = false,
): Promise<Population> {
  const target = db.collection(collection);
  const presence = nested ? nestedModel : model;
  await target.drop().catch(() => undefined);
  const seededAt = Date.now();
  for (let start = 0; start < users; start += INSERT_BATCH) {
    const batch: Document[] = [];
    for (let i = start; i < Math.min(users, start + INSERT_BATCH); i++) batch.push(userAt(i, seededAt, nested));
    await target.insertMany(batch, { ordered: false });
    onProgress(start + batch.length);
  }
  for (const spec of recommendedPresenceIndexes(presence)) await target.createIndex(spec.key, { name: spec.name });
  return { collection, model: presence, users, stale: staleCountOf(users), seededAt };
}

/** Brings the stale users back online (and only them): the same data for the next case. */
export async function resetStale(db: Db, population: Population): Promise<void> {
  const target: Collection = db.collection(population.collection);
  const { online: field, lastSeenField } = population.model;
  const newest = population.seededAt - 2 * DAY_MS;
  await target.updateMany(
    { [lastSeenField]: { $gte: new Date(newest - 3600 * 1000), $lte: new Date(newest) } },
    { $set: { [field.field]: true } },
  );
  const online = await target.countDocuments({ [field.field]: true, [lastSeenField]: { $lte: new Date(newest) } });
  if (online !== population.stale) throw new Error(`reset left ${online} stale users online, expected ${population.stale}`);
}

/** Where a population's stale users are kept, as seeded, for putting back after a case removed them. */
function staleCopyOf(population: Population): string {
  return `${population.collection}_stale_copy`;
}

/** The collection an archive case moves the population's stale users to (the bench's archive task names it so). */
export function archiveOf(population: Population): string {
  return `${population.collection}_archive`;
}

/**
 * Copies the stale users aside, as seeded (online), and moves them to the end
 * of the collection, where every put-back leaves them: on FerretDB a delete
 * decodes the collection in insertion order up to its document, so each
 * purge or archive case must find them in the same place. Run after seeding.
 */
export async function setAsideStale(db: Db, population: Population): Promise<void> {
  const copy = db.collection(staleCopyOf(population));
  await copy.drop().catch(() => undefined);
  const { online, lastSeenField } = population.model;
  const stale = { [online.field]: true, [lastSeenField]: { $lte: new Date(population.seededAt - 2 * DAY_MS) } };
  const users = db.collection(population.collection);
  await insertInBatches(copy, users.find(stale, { batchSize: INSERT_BATCH }));
  const kept = await copy.countDocuments();
  if (kept !== population.stale) throw new Error(`kept ${kept} stale users aside, expected ${population.stale}`);
  await users.deleteMany(stale);
  await putBackStale(db, population);
}

/**
 * After a purge or an archive: the stale users inserted back as they were
 * seeded (same `_id`s and bytes), the archive dropped; the same data for the
 * next case.
 */
export async function putBackStale(db: Db, population: Population): Promise<void> {
  await db.collection(archiveOf(population)).drop().catch(() => undefined);
  await insertInBatches(db.collection(population.collection), db.collection(staleCopyOf(population)).find({}, { batchSize: INSERT_BATCH }));
  await resetStale(db, population);
}

async function insertInBatches(target: Collection, documents: AsyncIterable<Document>): Promise<void> {
  let batch: Document[] = [];
  for await (const document of documents) {
    batch.push(document);
    if (batch.length === INSERT_BATCH) {
      await target.insertMany(batch, { ordered: false });
      batch = [];
    }
  }
  if (batch.length > 0) await target.insertMany(batch, { ordered: false });
}
