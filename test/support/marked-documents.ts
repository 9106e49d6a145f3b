import { join } from 'node:path';
import { Double, Int32, Long, ObjectId, type Db, type Document } from 'mongodb';
import { REPO } from './cli.ts';
import { collectionChecksum } from './database.ts';

/** The fixture tasks that remove documents marked `goes: true`: a purge, and a move to `<collection>_archive`. */
export const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
export const COLLECTION = 'sessions';
export const ARCHIVE = `${COLLECTION}_archive`;
export const REGIONS = ['eu', 'us', 'ap'] as const;

export interface RemovalKind {
  kind: 'delete' | 'archive';
  task: 'purge-marked' | 'archive-marked';
  /** How the production confirmation says the change, given the count and the database (see `changeWords`). */
  confirmation(count: number, database: string): string;
}

export const REMOVAL_KINDS: readonly RemovalKind[] = [
  { kind: 'delete', task: 'purge-marked', confirmation: (count) => `DELETE ${count} documents from ${COLLECTION}` },
  {
    kind: 'archive',
    task: 'archive-marked',
    confirmation: (count, database) => `ARCHIVE ${count} documents from ${COLLECTION} into ${database}.${ARCHIVE}`,
  },
];

export const pad = (n: number) => String(n).padStart(3, '0');
export const regionOf = (n: number) => REGIONS[n % REGIONS.length]!;

/**
 * `going` documents marked to go and `staying` not, with fixed ids, field order and values of many BSON types
 * (the ones a byte-for-byte restore must keep), so two seeds give byte-identical collections.
 */
export async function seedSessions(db: Db, going: number, staying: number): Promise<void> {
  await db.dropDatabase();
  const startedAt = new Date('2026-11-01T08:00:00.000Z');
  const document = (n: number, goes: boolean): Document => ({
    _id: `s-${pad(n)}`,
    region: regionOf(n),
    goes,
    user: new ObjectId(`65a0${'0'.repeat(17)}${pad(n)}`),
    startedAt: new Date(startedAt.getTime() + n * 60_000),
    hits: n % 3 === 0 ? new Int32(n) : n % 3 === 1 ? new Double(n + 0.25) : Long.fromNumber(n * 1_000_000_007),
    device: { kind: n % 2 === 0 ? 'web' : 'mobile', tags: [new Int32(n), 'x', null] },
    ...(n % 4 === 0 ? { note: null } : {}),
  });
  const documents = [
    ...Array.from({ length: going }, (_, n) => document(n, true)),
    ...Array.from({ length: staying }, (_, n) => document(going + n, false)),
  ];
  await db.collection(COLLECTION).insertMany(documents);
}

/** Both collections' content, canonical EJSON in `_id` order: equal iff byte-identical. */
export interface Snapshot {
  source: string;
  archive: string;
}

export async function snapshot(db: Db): Promise<Snapshot> {
  return { source: await collectionChecksum(db, COLLECTION), archive: await collectionChecksum(db, ARCHIVE) };
}

export function countGoing(db: Db): Promise<number> {
  return db.collection(COLLECTION).countDocuments({ goes: true });
}
