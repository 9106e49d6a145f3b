import type { Db } from 'mongodb';
import { replicationLagReader, type LagReader } from '../db/replication.ts';
import { serverFacts, type ServerFacts } from '../db/server-facts.ts';
import { errorMessage, UsageError } from '../engine/errors.ts';
import { AdaptivePace } from '../engine/pace.ts';
import type { ServerLimits } from '../db/server.ts';
import { DEFAULT_BATCH_SIZE } from '../db/server.ts';

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
 * anything is written: the batch size within what the server takes (its
 * `maxWriteBatchSize`, or less where the engine is known to fail below it; a
 * larger `--batch-size` is refused), and replication lag watched only where
 * there is replication to watch (a replica set; never a standalone, mongos or FerretDB).
 */
export async function paceFor(
  db: Db,
  flags: PaceFlags,
  limits: ServerLimits | undefined,
  onNotice: (message: string) => void,
): Promise<RunPace> {
  const facts = await serverFacts(db);
  const notices: string[] = [];
  const limit = Math.min(facts.maxWriteBatchSize, limits?.maxStatementsPerWrite ?? Number.POSITIVE_INFINITY);
  if (flags.batchSize !== undefined && flags.batchSize > limit) {
    throw new UsageError(
      `--batch-size ${flags.batchSize} is more than this server takes in one write batch (${limit}${limit < facts.maxWriteBatchSize ? `: ${limits!.why}` : ''})`,
    );
  }
  const readLag = await lagReaderFor(db, facts, flags.maxLag, notices);
  return {
    batchSize: flags.batchSize ?? Math.min(DEFAULT_BATCH_SIZE, limit),
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
    notices.push(
      `replication lag not watched: replSetGetStatus refused (${errorMessage(error).split('\n')[0]}); it needs the clusterMonitor role. Writes still wait for the write concern`,
    );
    return undefined;
  }
}
