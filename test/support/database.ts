import { createHash, randomBytes } from 'node:crypto';
import { EJSON } from 'bson';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, inject } from 'vitest';

/** The suite's server URI with a database path. */
export function uriFor(database: string): string {
  const base = new URL(inject('mongoUri'));
  base.pathname = `/${database}`;
  return base.toString();
}

export function uniqueDatabaseName(prefix: string): string {
  return `${prefix.replace(/[^a-z0-9]/gi, '').slice(0, 20)}_${randomBytes(4).toString('hex')}`;
}

/**
 * One database per test file on the real server, dropped afterwards.
 * Returns live getters: valid inside tests and hooks.
 */
export function useTestDatabase(prefix: string) {
  let client: MongoClient;
  let db: Db;
  const name = uniqueDatabaseName(prefix);
  beforeAll(async () => {
    client = await MongoClient.connect(uriFor(name));
    db = client.db(name);
  });
  afterAll(async () => {
    await db?.dropDatabase().catch(() => undefined);
    await client?.close();
  });
  return {
    name,
    uri: () => uriFor(name),
    db: () => db,
    client: () => client,
  };
}

/** sha256 over every document, canonical EJSON in `_id` order: equal iff byte-identical content. */
export async function collectionChecksum(db: Db, collection: string): Promise<string> {
  const hash = createHash('sha256');
  const cursor = db.collection(collection).find({}, { sort: { _id: 1 }, promoteValues: false });
  for await (const document of cursor) hash.update(EJSON.stringify(document, { relaxed: false }) + '\n');
  return hash.digest('hex');
}
