import {
  MongoClient,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  type Db,
} from 'mongodb';
import { DatabaseError, UsageError } from '../engine/errors.ts';
import type { Target } from './target.ts';

export const CONNECT_TIMEOUT_MS = 5000;

export interface Connection {
  client: MongoClient;
  db: Db;
  close(): Promise<void>;
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
      retryWrites: true,
    });
  } catch (error) {
    throw new UsageError(`invalid MongoDB URI options for ${target.uri}: ${(error as Error).message}`);
  }
  try {
    await client.connect();
    const db = client.db(target.database);
    await db.command({ ping: 1 });
    return { client, db, close: () => client.close() };
  } catch (error) {
    await client.close().catch(() => undefined);
    throw databaseError(error, target);
  }
}

export function databaseError(error: unknown, target: Pick<Target, 'uri'>): DatabaseError {
  if (isAuthError(error)) {
    return new DatabaseError(`authentication to ${target.uri} failed: check the user and password`, { cause: error });
  }
  if (error instanceof MongoServerSelectionError || error instanceof MongoNetworkError) {
    return new DatabaseError(`cannot reach the database at ${target.uri} (${firstLine(error.message)})`, { cause: error });
  }
  return new DatabaseError(`database error at ${target.uri}: ${firstLine((error as Error).message ?? String(error))}`, {
    cause: error,
  });
}

function isAuthError(error: unknown): boolean {
  if (error instanceof MongoServerError) return error.code === 18 || error.code === 13;
  return error instanceof Error && /auth/i.test(error.message) && /fail/i.test(error.message);
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 200);
}
