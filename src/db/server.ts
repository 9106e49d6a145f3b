import type { Db } from 'mongodb';

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
