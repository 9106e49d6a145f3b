import { homedir, hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { AuditFile } from '../db/audit-file.ts';
import type { Connection } from '../db/connect.ts';
import type { MongoRunLock } from '../db/lock.ts';
import { MongoRunStore } from '../db/run-store.ts';
import { resolveTarget, type Target } from '../db/target.ts';
import type { RunView } from './render/run-view.ts';
import { toolVersion } from './version.ts';

/** Options every command that reaches a database takes. */
export interface TargetOptions {
  uri?: string;
  db?: string;
  json?: boolean;
  stateDir?: string;
  backupDir?: string;
  tasksDir?: string;
}

// tasks/*.ts beside src/ when run from the sources, dist/tasks/*.js beside dist/src/ when compiled.
export const BUNDLED_TASKS_DIR = resolve(fileURLToPath(new URL('../../tasks', import.meta.url)));

/** Where this host keeps backups and its local audit file. */
export function localPaths(options: TargetOptions, env: NodeJS.ProcessEnv = process.env) {
  const stateDir = resolve(options.stateDir ?? env.PRESENCE_STATE_DIR ?? join(homedir(), '.presence-maint'));
  return {
    stateDir,
    backupDir: resolve(options.backupDir ?? env.PRESENCE_BACKUP_DIR ?? join(stateDir, 'backups')),
    auditFile: join(stateDir, 'audit.jsonl'),
    tasksDir: resolve(options.tasksDir ?? env.PRESENCE_TASKS_DIR ?? BUNDLED_TASKS_DIR),
  };
}

export function targetOf(options: TargetOptions, env: NodeJS.ProcessEnv = process.env): Target {
  return resolveTarget({ uri: options.uri, db: options.db }, env);
}

export function operator(): string {
  return `${userInfo().username}@${hostname()}`;
}

/** Sortable and unique: `20261125T210612Z-3f9a1c`. */
export function newRunId(now: Date): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')}-${randomBytes(3).toString('hex')}`;
}

export function lockTtlMs(fallbackMs: number, env: NodeJS.ProcessEnv = process.env): number {
  const configured = Number(env.PRESENCE_LOCK_TTL_MS);
  return Number.isInteger(configured) && configured > 0 ? configured : fallbackMs;
}

export interface Session {
  target: Target;
  connection: Connection;
  store: MongoRunStore;
  lock: MongoRunLock;
  close(): Promise<void>;
}

/** Connects (shown as the `connect` step) and builds the audit store and the lock. */
export async function openSession(target: Target, options: TargetOptions, view?: RunView): Promise<Session> {
  // The driver is loaded when a session opens, not by the option modules that import this one for localPaths.
  const [{ connect }, { DEFAULT_LOCK_TTL_MS, MongoRunLock }] = await Promise.all([import('../db/connect.ts'), import('../db/lock.ts')]);
  const connection = view
    ? await view.step('connect', () => connect(target), () => `${target.uri} (database ${target.database})`)
    : await connect(target);
  const paths = localPaths(options);
  return {
    target,
    connection,
    store: new MongoRunStore(connection.db, new AuditFile(paths.auditFile, toolVersion())),
    lock: new MongoRunLock(connection.db, lockTtlMs(DEFAULT_LOCK_TTL_MS)),
    close: () => connection.close(),
  };
}
