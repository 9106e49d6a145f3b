import { EJSON } from 'bson';
import { Binary, Decimal128, Double, Int32, Long, ObjectId, Timestamp, type Document } from 'mongodb';
import { describe, expect, it } from 'vitest';
import type { RestoreRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { reachedStep } from '../support/records.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { MINUTE } from './faults.ts';

/**
 * A users collection as years of production leave it: wrong types, missing
 * fields, odd `_id`s, deep nesting, a document near the 16 MB limit. `status`
 * and `test` report what is wrong; `stale` and `cleanup` change the
 * well-formed users only, and their restores bring back every byte.
 */
const database = useTestDatabase('hostiledocs');
const HUGE_BYTES = 15 * 1024 * 1024;

function nested(depth: number): Document {
  let value: Document = { leaf: 'bottom' };
  for (let level = 0; level < depth; level++) value = { level, value };
  return value;
}

function hostileUsers(now: Date): { users: Document[]; malformed: number; staleWellFormed: number; online: number } {
  const ago = (minutes: number) => new Date(now.getTime() - minutes * MINUTE);
  const wellFormedStale = [
    { _id: new ObjectId(), isOnline: true, lastSeen: ago(120), name: 'object id' },
    { _id: new Int32(42), isOnline: true, lastSeen: ago(121), name: 'int32 id' },
    { _id: Long.fromNumber(2 ** 40), isOnline: true, lastSeen: ago(122), name: 'long id' },
    { _id: { org: 'acme', n: 7 }, isOnline: true, lastSeen: ago(123), name: 'compound id' },
    { _id: 'unicode-名前-🙂', isOnline: true, lastSeen: ago(124), 名前: '表示名', emoji: '🙂🙃', 'spaces in key': true },
    { _id: 'deep', isOnline: true, lastSeen: ago(125), profile: nested(80) },
    { _id: 'huge', isOnline: true, lastSeen: ago(126), bio: 'b'.repeat(HUGE_BYTES) },
    {
      _id: 'numbers',
      isOnline: true,
      lastSeen: ago(127),
      score: new Double(1.5),
      count: new Int32(3),
      big: Long.fromString('9007199254740993'),
      // FerretDB 1.x drops the connection on a Decimal128: only a real MongoDB gets one.
      ...(process.env.MONGODB_TEST_URI ? { price: Decimal128.fromString('9.99') } : {}),
    },
    { _id: 'binary', isOnline: true, lastSeen: ago(128), avatar: new Binary(Buffer.from([0, 1, 2, 255])) },
  ];
  const active = [{ _id: 'active', isOnline: true, lastSeen: ago(2) }];
  const malformed = [
    { _id: 'online-string', isOnline: 'true', lastSeen: ago(300) },
    { _id: 'online-number', isOnline: 1, lastSeen: ago(300) },
    { _id: 'online-array', isOnline: [true], lastSeen: ago(300) },
    { _id: 'online-object', isOnline: { on: true }, lastSeen: ago(300) },
    { _id: 'seen-string', isOnline: true, lastSeen: '2026-01-01T00:00:00Z' },
    { _id: 'seen-number', isOnline: true, lastSeen: ago(300).getTime() },
    { _id: 'seen-array', isOnline: true, lastSeen: [ago(300)] },
    { _id: 'seen-object', isOnline: true, lastSeen: { at: ago(300) } },
    { _id: 'seen-timestamp', isOnline: true, lastSeen: new Timestamp({ t: 1, i: 1 }) },
    { _id: 'online-null', isOnline: null, lastSeen: ago(300) },
  ];
  const missing = [
    { _id: 'empty' },
    { _id: 'no-activity', isOnline: true },
    { _id: 'activity-null', isOnline: true, lastSeen: null },
    { _id: 'no-online', lastSeen: ago(300) },
    { _id: 'offline', isOnline: false, lastSeen: ago(300) },
  ];
  return {
    users: [...wellFormedStale, ...active, ...malformed, ...missing],
    malformed: malformed.length,
    staleWellFormed: wellFormedStale.length,
    // Online without any activity time: cleanup sets them offline, stale cannot judge them.
    online: wellFormedStale.length + active.length + 2,
  };
}

describe('hostile documents', () => {
  it('are reported by status and test, left alone by stale and cleanup, and every run restores byte for byte', async () => {
    const seeded = hostileUsers(new Date());
    const users = database.db().collection('users');
    for (const user of seeded.users) await users.insertOne(user);
    const pristine = await collectionChecksum(database.db(), 'users');
    const stateDir = tempStateDir();
    const presence = async (...args: string[]) => {
      const result = await runCli([...args, '--uri', database.uri()], { env: { PRESENCE_STATE_DIR: stateDir }, timeoutMs: 180_000 });
      const context = `presence ${args.join(' ')} → exit ${result.code}\n${result.stderr}${result.stdout.slice(-3000)}`;
      expect(result.signal, context).toBeNull();
      expect(`${result.stdout}\n${result.stderr}`, context).not.toMatch(/\n\s+at |RangeError|TypeError|Maximum call stack/);
      expect(result.stderr.trim().split('\n').length, context).toBeLessThanOrEqual(1);
      return { ...result, context };
    };

    const status = await presence('status', '--json');
    expect(status.code, status.context).toBe(0);
    const { figures } = parseJson<{ figures: { total: number; malformed: number } }>(status.stdout);
    expect(figures, status.context).toMatchObject({ total: seeded.users.length, malformed: seeded.malformed });

    const text = await presence('status');
    expect(text.code, text.context).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`malformed presence\\s+${seeded.malformed}\\b`));

    const test = await presence('test', '--json');
    expect(test.code, 'the schema check fails on the malformed users').toBe(1);
    const health = parseJson<{ ok: boolean; checks: Array<{ check: string; result: string; summary: string }> }>(test.stdout);
    expect(health.checks.find((check) => check.check === 'schema')).toMatchObject({ result: 'fail', summary: expect.stringMatching(new RegExp(`^${seeded.malformed} of \\d+ sampled document\\(s\\).*wrong type`)) });
    expect(await collectionChecksum(database.db(), 'users'), 'test leaves nothing behind').toBe(pristine);

    for (const command of [['stale', '--minutes', '60'], ['cleanup']]) {
      const dryRun = await presence(...command, '--dry-run', '--json');
      expect(dryRun.code, dryRun.context).toBe(0);
      const planned = reachedStep('plan', parseJson<TaskRunRecord>(dryRun.stdout).plan).count;
      expect(planned).toBe(command[0] === 'stale' ? seeded.staleWellFormed : seeded.online);
      expect(dryRun.stdout + dryRun.stderr).not.toContain('b'.repeat(1000));

      const run = await presence(...command, '--json');
      expect(run.code, run.context).toBe(0);
      const record = parseJson<TaskRunRecord>(run.stdout);
      expect(record.result).toMatchObject({ planned, written: planned, skipped: 0, failed: 0 });
      // Only presence fields were backed up: the huge document costs a few bytes.
      expect(reachedStep('backup', record.backup).bytes).toBeLessThan(64 * 1024);
      const offline = await users.find({ isOnline: false }).project({ _id: 1 }).toArray();
      expect(offline.map((user) => EJSON.stringify(user._id)).sort()).toHaveLength(planned + 1);

      const restore = await presence('restore', record._id, '--json');
      expect(restore.code, restore.context).toBe(0);
      expect(parseJson<RestoreRecord>(restore.stdout).restore).toMatchObject({ restored: planned, conflicts: 0 });
      expect(await collectionChecksum(database.db(), 'users'), `${command[0]} restored byte for byte`).toBe(pristine);
    }
  }, 300_000);
});
