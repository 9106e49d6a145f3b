import type { Db } from 'mongodb';
import { replicationLagReader, type LagReader } from '../db/replication.ts';
import { serverFacts, type ServerFacts } from '../db/server-facts.ts';
import { errorMessage } from '../engine/errors.ts';
import { privilegeErrorOf } from '../engine/privileges.ts';
import { AdaptivePace } from '../engine/pace.ts';
import { writeBatchSize } from '../db/server.ts';

export const DEFAULT_MAX_LAG_SECONDS = 10;

export interface PaceFlags {
  /** Undefined: the default, within what the server takes. */
  batchSize?: number;
  rate?: number;
  maxLag?: number;
}

export interface RunPace {
  batchSize: number;
  pace: AdaptivePace;
  /** What the operator should know about this pace on this server: shown and audited. */
  notices: string[];
}

/**
 * The pace of one run on this server, settled after connecting and before
 * anything is written: the batch size (`writeBatchSize`), and replication lag
 * watched only where there is replication to watch (a replica set; never a
 * standalone, mongos or FerretDB).
 */
export async function paceFor(db: Db, flags: PaceFlags, onNotice: (message: string) => void): Promise<RunPace> {
  const batchSize = await writeBatchSize(db, flags.batchSize === undefined ? undefined : { size: flags.batchSize, flag: '--batch-size' });
  const notices: string[] = [];
  const readLag = await lagReaderFor(db, await serverFacts(db), flags.maxLag, notices);
  return {
    batchSize,
    pace: new AdaptivePace({ rate: flags.rate, maxLagSeconds: flags.maxLag ?? DEFAULT_MAX_LAG_SECONDS, readLag, onNotice }),
    notices,
  };
}

async function lagReaderFor(db: Db, facts: ServerFacts, maxLag: number | undefined, notices: string[]): Promise<LagReader | undefined> {
  if (facts.replicaSet === undefined) {
    if (maxLag !== undefined) {
      notices.push(`--max-lag has nothing to watch: ${facts.mongos ? 'through mongos, lag is per shard' : 'the server is not a replica set'}`);
    }
    return undefined;
  }
  const reader = replicationLagReader(db);
  try {
    await reader();
    return reader;
  } catch (error) {
    // A missing privilege is named, not quoted: the server's message repeats the whole command.
    const why = privilegeErrorOf(error) ? 'this user may not run it' : errorMessage(error).split('\n')[0];
    notices.push(
      `replication lag not watched: replSetGetStatus refused (${why}); it needs the clusterMonitor role. Writes still wait for the write concern`,
    );
    return undefined;
  }
}
