import type { Db, Document } from 'mongodb';

/** What a run's pace needs to know about the server, from one `hello`. */
export interface ServerFacts {
  /** The most write statements the server takes in one command (`maxWriteBatchSize`). */
  maxWriteBatchSize: number;
  /** Set on a replica-set member: only there can secondaries lag. */
  replicaSet?: string;
  /** A mongos: replication lag is per shard, not readable through it. */
  mongos: boolean;
}

export async function serverFacts(db: Db): Promise<ServerFacts> {
  return factsOf(await db.admin().command({ hello: 1 }));
}

export function factsOf(hello: Document): ServerFacts {
  return {
    maxWriteBatchSize: typeof hello.maxWriteBatchSize === 'number' ? hello.maxWriteBatchSize : 100_000,
    replicaSet: typeof hello.setName === 'string' ? hello.setName : undefined,
    mongos: hello.msg === 'isdbgrid',
  };
}
