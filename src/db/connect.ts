import {
  MongoClient,
  MongoError,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  ReadConcern,
  ReadPreference,
  type Db,
  type DbOptions,
  type ReadPreferenceMode,
} from 'mongodb';
import { DatabaseError, UsageError } from '../engine/errors.ts';
import { privilegeErrorOf } from '../engine/privileges.ts';
import type { RunConcerns } from '../engine/run-record.ts';
import type { Target } from './target.ts';

export const CONNECT_TIMEOUT_MS = 5000;

export interface Connection {
  client: MongoClient;
  /** Reads the primary, majority read and write concern: for everything that decides, makes or checks a write. */
  db: Db;
  /** The same database, read with the mode the operator chose for a plan's reads. */
  planDb(mode: ReadPreferenceMode): Db;
  /** What `db` and `planDb(mode)` use, as the driver resolved it: kept in the run record. */
  concerns(planMode: ReadPreferenceMode): RunConcerns;
  close(): Promise<void>;
}

/**
 * Set on the database handle, where they win over the URI's own options: a
 * `readPreference=secondaryPreferred&w=1` meant for an app's reads must not let
 * verify or restore read a lagging secondary, nor a write be acknowledged by
 * one member only (DESIGN "Pace and load"). A URI's `wtimeoutMS` is kept: it
 * makes a write fail loudly, never weaker.
 */
function runDbOptions(client: MongoClient, readPreference: ReadPreference): DbOptions {
  const wtimeoutMS = client.options.writeConcern?.wtimeoutMS;
  return {
    readPreference,
    readConcern: new ReadConcern('majority'),
    writeConcern: { w: 'majority', ...(wtimeoutMS === undefined ? {} : { wtimeoutMS }) },
  };
}

/**
 * The one place that connects. Fails within a few seconds when the server is
 * unreachable, and pings so that wrong credentials fail here, not mid-run.
 */
export async function connect(target: Target, options: { timeoutMs?: number; appName?: string } = {}): Promise<Connection> {
  const timeoutMs = options.timeoutMs ?? CONNECT_TIMEOUT_MS;
  let client: MongoClient;
  try {
    // Timeouts the URI sets are the operator's; ours only fill in what it leaves out.
    const given = new URLSearchParams(target.connectionUri.split('?')[1] ?? '');
    const unlessGiven = (name: string, value: number) => (given.has(name) ? {} : { [name]: value });
    client = new MongoClient(target.connectionUri, {
      ...unlessGiven('serverSelectionTimeoutMS', timeoutMs),
      ...unlessGiven('connectTimeoutMS', timeoutMs),
      appName: options.appName ?? 'presence-maint',
      // Client options win over the URI's: a retried write or read is never turned off by it.
      retryWrites: true,
      retryReads: true,
    });
  } catch (error) {
    throw new UsageError(`invalid MongoDB URI options for ${target.uri}: ${(error as Error).message}`);
  }
  try {
    await client.connect();
    const db = client.db(target.database, runDbOptions(client, ReadPreference.primary));
    await db.command({ ping: 1 });
    const planDb = (mode: ReadPreferenceMode) => client.db(target.database, runDbOptions(client, ReadPreference.fromString(mode)));
    return {
      client,
      db,
      planDb,
      concerns: (planMode) => concernsOf(client, db, planDb(planMode)),
      close: () => client.close(),
    };
  } catch (error) {
    await client.close().catch(() => undefined);
    throw databaseError(error, target);
  }
}

function concernsOf(client: MongoClient, db: Db, planDb: Db): RunConcerns {
  const wtimeoutMS = db.writeConcern?.wtimeoutMS;
  return {
    reads: { readPreference: db.readPreference.mode, readConcern: db.readConcern?.level ?? 'local' },
    writes: { w: db.writeConcern?.w ?? 1, retryable: client.options.retryWrites, ...(wtimeoutMS === undefined ? {} : { wtimeoutMS }) },
    planReads: { readPreference: planDb.readPreference.mode },
  };
}

/** The database's failure rather than the tool's: a driver error, or a socket's own error (see isSocketError). */
export function isDatabaseFailure(error: unknown): error is Error {
  return error instanceof MongoError || isSocketError(error);
}

/** A connection reset under the driver can reach the caller as the socket's own error (`write ECONNRESET`). */
function isSocketError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}

export function databaseError(error: unknown, target: Pick<Target, 'uri'>): DatabaseError {
  const refused = privilegeErrorOf(error);
  if (refused) return refused;
  if (isAuthError(error)) {
    return new DatabaseError(`authentication to ${target.uri} failed: check the user and password`, { cause: error });
  }
  if (error instanceof MongoServerSelectionError || error instanceof MongoNetworkError || isSocketError(error)) {
    return new DatabaseError(`cannot reach the database at ${target.uri} (${firstLine(error.message)})`, { cause: error });
  }
  return new DatabaseError(`database error at ${target.uri}: ${firstLine((error as Error).message ?? String(error))}`, {
    cause: error,
  });
}

function isAuthError(error: unknown): boolean {
  // 18 AuthenticationFailed. A missing privilege (13) is not a failed login: privilegeErrorOf says which.
  if (error instanceof MongoServerError) return error.code === 18;
  return error instanceof Error && /auth/i.test(error.message) && /fail/i.test(error.message);
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 200);
}
