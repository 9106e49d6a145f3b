import { createRequire } from 'node:module';
import type * as Driver from 'mongodb';
import { ConnectionString, redactConnectionString } from 'mongodb-connection-string-url';
import { UsageError } from '../engine/errors.ts';
import type { TargetInfo } from '../engine/run-record.ts';

/** Local, never remote, never with a credential. */
export const DEFAULT_URI = 'mongodb://127.0.0.1:27017/';

export interface Target extends TargetInfo {
  /** The URI as given, credentials included: only ever handed to the driver. */
  connectionUri: string;
  /** Every host is this machine: a target that is never production by default. */
  loopback: boolean;
}

const loopbackHost = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/i;

/**
 * The target: `--uri`, else MONGODB_URI, else the local default. The database
 * is the URI's path, unless `--db` names it.
 */
export function resolveTarget(options: { uri?: string; db?: string }, env: NodeJS.ProcessEnv): Target {
  const given = options.uri ?? env.MONGODB_URI ?? DEFAULT_URI;
  const source = options.uri !== undefined ? '--uri' : env.MONGODB_URI !== undefined ? 'MONGODB_URI' : 'the default URI';
  let parsed: ConnectionString;
  try {
    parsed = new ConnectionString(given);
  } catch (error) {
    // The parser's message may quote the URI; say only what is wrong, never the value.
    throw new UsageError(`malformed MongoDB URI in ${source}: ${reasonOf(error)}`);
  }
  const database = options.db ?? decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (database === '') {
    throw new UsageError(`no database named: put it in the URI's path (mongodb://host/DATABASE) or pass --db`);
  }
  if (!/^[^/\\. "$*<>:|?]{1,63}$/.test(database)) {
    throw new UsageError(`invalid database name "${database.slice(0, 64)}"`);
  }
  assertDriverTakes(given, source);
  const loopback = !parsed.isSRV && parsed.hosts.every((host) => loopbackHost.test(host));
  return { connectionUri: given, uri: redactUri(given), database, loopback };
}

/**
 * Options the driver refuses (a port out of range, `tls=maybe`) are bad input
 * like any other: refused here, before anything is written. Building a client
 * only parses; it connects to nothing.
 */
function assertDriverTakes(uri: string, source: string): void {
  // Required when a URI is checked, not imported with the module: option modules reach this one, and
  // `presence --help` must not load the driver.
  const { MongoClient } = createRequire(import.meta.url)('mongodb') as typeof Driver;
  try {
    new MongoClient(uri);
  } catch (error) {
    // The driver's message names the option, never the credentials.
    throw new UsageError(`invalid MongoDB URI options in ${source}: ${(error as Error).message.split('\n')[0]}`);
  }
}

export function redactUri(uri: string): string {
  try {
    return redactConnectionString(uri);
  } catch {
    return '<unparsable URI>';
  }
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/scheme/i.test(message)) return 'it must start with mongodb:// or mongodb+srv://';
  if (/host/i.test(message)) return 'no valid host';
  return 'it cannot be parsed';
}
