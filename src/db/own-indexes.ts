import { MongoServerError, type Db, type Document } from 'mongodb';
import { RUNS_COLLECTION } from './run-store.ts';
import { SCHEDULES_COLLECTION } from './schedule-claim.ts';

/** NamespaceNotFound: the collection does not exist yet, so neither does any index. */
const NAMESPACE_NOT_FOUND = 26;

interface OwnIndex {
  collection: string;
  name: string;
  key: Record<string, 1 | -1>;
  /** The queries it keeps off a collection scan. */
  serves: string;
}

/**
 * The indexes the tool's own queries need, so that `history`, `status` and a
 * run's start stay cheap as the audit grows. The lock is read and written by
 * its fixed `_id` only: the `_id` index serves it.
 */
export const OWN_INDEXES: readonly OwnIndex[] = [
  {
    collection: RUNS_COLLECTION,
    name: 'task.id_1_startedAt_-1',
    key: { 'task.id': 1, startedAt: -1 },
    serves: "a task's last runs (status, tasks, history --task)",
  },
  {
    collection: RUNS_COLLECTION,
    name: 'status_1_startedAt_-1',
    key: { status: 1, startedAt: -1 },
    serves: 'runs still marked running (every run start), history --status',
  },
  { collection: RUNS_COLLECTION, name: 'startedAt_-1', key: { startedAt: -1 }, serves: 'the latest runs (history)' },
  {
    collection: SCHEDULES_COLLECTION,
    name: 'schedule_1_intervalStart_1',
    key: { schedule: 1, intervalStart: 1 },
    serves: "dropping a schedule's old interval claims",
  },
];

/**
 * Creates whichever of them is missing, reading first so that a user who may
 * only read (a monitoring scrape) costs one `listIndexes` per collection and
 * sends no write. A refusal (no createIndex privilege, a different index
 * already holding the name) is a notice, never a failure: the queries still
 * answer, only slower.
 */
export async function ensureOwnIndexes(db: Db): Promise<string[]> {
  const notices: string[] = [];
  for (const collection of new Set(OWN_INDEXES.map((index) => index.collection))) {
    const wanted = OWN_INDEXES.filter((index) => index.collection === collection);
    const existing = await existingIndexes(db, collection);
    // One already there under another name serves as well: creating ours would be refused (IndexOptionsConflict).
    const missing = wanted.filter(({ name, key }) => !existing.some((index) => index.name === name || sameKey(index.key as Document, key)));
    for (const index of missing) {
      try {
        await db.collection(collection).createIndex(index.key, { name: index.name });
      } catch (error) {
        if (!(error instanceof MongoServerError)) throw error;
        notices.push(
          `could not create the index ${index.name} on ${collection} (${error.codeName ?? error.code}: ${error.message.split('\n')[0]}): ${index.serves} will read the whole collection`,
        );
      }
    }
  }
  return notices;
}

function sameKey(a: Document, b: Document): boolean {
  return JSON.stringify(Object.entries(a)) === JSON.stringify(Object.entries(b));
}

async function existingIndexes(db: Db, collection: string): Promise<Document[]> {
  try {
    return await db.collection(collection).listIndexes().toArray();
  } catch (error) {
    if (error instanceof MongoServerError && error.code === NAMESPACE_NOT_FOUND) return [];
    throw error;
  }
}
