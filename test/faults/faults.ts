import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Double, Int32, Long, type Db, type Document } from 'mongodb';
import type { AuditLine } from '../../src/db/audit-file.ts';
import type { RunRecord } from '../../src/engine/run-record.ts';
import { until } from '../support/until.ts';
import { buildUsers } from '../support/users.ts';

export const MINUTE = 60_000;

/**
 * A reproducible random source (mulberry32): FAULT_SEED replays a run; the
 * seed in use is printed by the test that draws from it.
 */
export function randomSource(seed = Number(process.env.FAULT_SEED ?? Date.now() % 2 ** 31)) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return {
    seed,
    next,
    below: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}

/**
 * Users as a presence server leaves them, with the BSON types a restore must
 * bring back byte for byte: Int32, Double and Long scores, dates, nulls,
 * sub-documents, and fields some users lack.
 */
export function presenceUsers(
  count: number,
  now: Date,
  options: { online?: (n: number) => boolean; stale?: (n: number) => boolean } = {},
): Document[] {
  const { online: isOnline = (n: number) => n % 3 !== 0, stale: isStale = (n: number) => n % 2 === 0 } = options;
  const scores = [(n: number) => new Int32(n), (n: number) => new Double(n + 0.5), (n: number) => Long.fromNumber(n * 1_000_000_007)];
  return buildUsers(now, [
    {
      count,
      id: (n) => `user-${String(n).padStart(5, '0')}`,
      name: (n) => `User ${n} ✓`,
      online: isOnline,
      minutesAgo: (n) => (isStale(n) ? 90 + (n % 500) : 1 + (n % 20)),
      extra: (n) => ({
        socketId: isOnline(n) ? `sock-${n}` : null,
        profile: { plan: n % 2 ? 'pro' : 'free', tags: ['a', n] },
        ...(n % 4 < 3 ? { score: scores[n % 4]!(n) } : {}),
        ...(n % 10 === 0 ? { flagged: false } : {}),
      }),
    },
  ]);
}

export function auditLines(stateDir: string): AuditLine[] {
  let text: string;
  try {
    text = readFileSync(join(stateDir, 'audit.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as AuditLine);
}

/** Run ids started on this host (the local audit's `started` lines), oldest first. */
export function startedRunIds(stateDir: string): string[] {
  return auditLines(stateDir)
    .filter((line) => line.event === 'started')
    .map((line) => line.record._id);
}

export interface LockDocument {
  _id: string;
  runId: string;
  owner: string;
  expiresAt: Date;
}

export function lockOf(db: Db): Promise<LockDocument | null> {
  return db.collection<LockDocument>('maintenance_locks').findOne({});
}

/** Waits until no live lock is left (none, or an expired one): a dead holder's lock expires by itself. */
export async function lockExpired(db: Db, withinMs = 30_000): Promise<LockDocument | null> {
  let lock: LockDocument | null = null;
  await until(
    'no live lock left',
    async () => {
      lock = await lockOf(db);
      return lock === null || lock.expiresAt.getTime() < Date.now();
    },
    { withinMs, everyMs: 50, detail: () => `the lock of run ${lock?.runId} is still live` },
  );
  return lock;
}

export function runRecord(db: Db, runId: string): Promise<RunRecord | null> {
  return db.collection<RunRecord>('maintenance_runs').findOne({ _id: runId });
}

/** One line on stderr, and no stack trace anywhere. */
export function oneCleanLine(stderr: string): boolean {
  return stderr.trim() !== '' && stderr.trim().split('\n').length === 1 && !/\n\s+at |^\s+at /m.test(stderr);
}
