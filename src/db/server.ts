import type { Db } from 'mongodb';
import { UsageError } from '../engine/errors.ts';
import { serverFacts } from './server-facts.ts';

/** Documents per write batch when the operator asks for no other size. */
export const DEFAULT_BATCH_SIZE = 500;

/**
 * FerretDB 1.24 (SQLite) keeps one SQLite connection per statement of an
 * `update` command until the command ends, from a pool of 100: a bulk write of
 * about 100 statements or more waits on itself for ever. Below that, it works.
 */
const FERRETDB_STATEMENTS_PER_WRITE = 50;

/** What the server cannot take; undefined for a MongoDB that takes any batch. */
export interface ServerLimits {
  /** The most statements one write command may carry on this server. */
  maxStatementsPerWrite: number;
  why: string;
}

/** What the connected server is, as far as the runner must adapt to it. */
export async function serverLimits(db: Db): Promise<ServerLimits | undefined> {
  const info = await db.admin().command({ buildInfo: 1 });
  if (typeof info.ferretdbVersion !== 'string') return undefined;
  return {
    maxStatementsPerWrite: FERRETDB_STATEMENTS_PER_WRITE,
    why: `FerretDB ${info.ferretdbVersion} stalls on write commands of ~100 statements or more`,
  };
}

/**
 * The batch size of a run on this server, said once for the CLI, the bench
 * and the runbooks (which pass theirs to the CLI): the one asked for, else the
 * default, within what the server takes in one write command (its
 * `maxWriteBatchSize`, or less where the engine is known to fail below it).
 * Asking for more is refused, naming the flag it was asked by.
 */
export async function writeBatchSize(db: Db, requested?: { size: number; flag: string }): Promise<number> {
  const [facts, limits] = await Promise.all([serverFacts(db), serverLimits(db)]);
  const limit = Math.min(facts.maxWriteBatchSize, limits?.maxStatementsPerWrite ?? Number.POSITIVE_INFINITY);
  if (requested === undefined) return Math.min(DEFAULT_BATCH_SIZE, limit);
  if (requested.size > limit) {
    const why = limits !== undefined && limit < facts.maxWriteBatchSize ? `: ${limits.why}` : '';
    throw new UsageError(`${requested.flag} ${requested.size} is more than this server takes in one write batch (${limit}${why})`);
  }
  return requested.size;
}
