import { EJSON } from 'bson';
import type { Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RestoreRecord, RunRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { reachedStep } from '../support/records.ts';
import { until } from '../support/until.ts';
import { bytesOf, exampleInBareDirectory, presenceWith, storedDocuments } from './bare-directory.ts';

const database = useTestDatabase('example_sessions');
const presence = presenceWith(database.uri, exampleInBareDirectory('purge-expired-sessions.ts'), tempStateDir());
const TASK = 'purge-expired-sessions';

const MINUTE = 60_000;
/** A session as connect-mongo stores it: the id, when it expires, and express-session's data as JSON text. */
function session(sid: string, expiresIn: number, extra: Document = {}): Document {
  const expires = new Date(Date.now() + expiresIn);
  const data = { cookie: { originalMaxAge: 86_400_000, expires: expires.toISOString(), httpOnly: true, path: '/' }, userId: `u-${sid}` };
  return { _id: sid, expires, session: JSON.stringify(data), ...extra };
}

// Relative to the real clock: the CLI's run starts seconds after these are written.
const expired = [
  ...Array.from({ length: 11 }, (_, i) =>
    session(`sid-${String(i).padStart(2, '0')}`, -(i + 1) * 5 * 60 * MINUTE, i % 3 === 0 ? { lastModified: new Date(Date.now() - 2 * 24 * 60 * MINUTE) } : {}),
  ),
  session('sid-just-expired', -10 * MINUTE),
];
const alive = [
  session('sid-alive-1', 24 * 60 * MINUTE),
  session('sid-alive-2', 14 * 24 * 60 * MINUTE, { lastModified: new Date() }),
  // Not the store's shape: no `expires`, or text in it. A Date comparison leaves both alone.
  { _id: 'sid-no-expiry', session: '{}' },
  { _id: 'sid-text-expiry', expires: '2001-01-01T00:00:00Z', session: '{}' },
];
const expiredIds = expired.map((document) => document._id as string).sort();

const sessions = () => database.db().collection<{ _id: string } & Document>('sessions');
const runs = () => database.db().collection<RunRecord>('maintenance_runs');

/** The collection as seeded, read back from its canonical text. */
let original: string;
const originalDocuments = (): Document[] => EJSON.parse(original, { relaxed: false }) as Document[];

// Several CLI processes a test, each a few seconds on a loaded machine.
describe('examples/tasks/purge-expired-sessions.ts, from a bare directory', { timeout: 240_000 }, () => {
  let runId: string;
  beforeAll(async () => {
    await sessions().insertMany([...expired, ...alive] as never);
    original = bytesOf(await storedDocuments(database.db(), 'sessions'));
  });

  it('is listed with its description, and names its parameters when given one it does not take', async () => {
    const tasks = await presence(['tasks', '--json']);
    expect(tasks.code, tasks.stderr).toBe(0);
    expect(parseJson<Array<{ task: string; mode: string; description: string }>>(tasks.stdout).find((row) => row.task === TASK)).toMatchObject({
      mode: 'repeatable',
      description: 'Delete connect-mongo sessions whose expires is in the past',
    });
    const wrong = await presence(['run', TASK, '--dry-run', '--param', 'minutes=5']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/unknown parameter "minutes" \(parameters: collection, graceMinutes\)/);
    const negative = await presence(['run', TASK, '--dry-run', '--param', 'graceMinutes=-5']);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toMatch(/parameter "graceMinutes"/);
  });

  it('dry run writes nothing and shows the expired sessions whole; a grace period keeps those that just expired', async () => {
    const dry = await presence(['run', TASK, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(dry.stdout);
    expect(record.params).toEqual({ collection: 'sessions', graceMinutes: 0 });
    const plan = reachedStep('plan', record.plan);
    expect(plan).toMatchObject({ kind: 'delete', collection: 'sessions', count: expired.length });
    const sample = EJSON.parse(plan.sample!, { relaxed: false }) as Array<{ _id: string; before: Document; after: Document }>;
    expect(sample).toHaveLength(5);
    for (const entry of sample) {
      const stored = expired.find((document) => document._id === entry._id);
      expect(stored, `sampled ${entry._id}`).toBeDefined();
      const { _id, ...fields } = stored!;
      expect(bytesOf([entry.before])).toBe(bytesOf([fields]));
      expect(entry.after).toEqual({});
    }
    expect(bytesOf(await storedDocuments(database.db(), 'sessions'))).toBe(original);

    const graced = await presence(['run', TASK, '--dry-run', '--json', '--param', 'graceMinutes=30']);
    expect(reachedStep('plan', parseJson<TaskRunRecord>(graced.stdout).plan).count).toBe(expired.length - 1);
  });

  it('deletes exactly the expired sessions', async () => {
    const run = await presence(['run', TASK, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(run.stdout);
    expect(reachedStep('apply', record.result)).toMatchObject({ planned: expired.length, written: expired.length, skipped: 0, failed: 0 });
    runId = record._id;
    const left = await storedDocuments(database.db(), 'sessions');
    expect(left.map((document) => document._id)).toEqual(alive.map((document) => document._id).sort());
    expect(bytesOf(left)).toBe(bytesOf(originalDocuments().filter((document) => !expiredIds.includes(document._id as string))));
  });

  it('restore gives the collection back byte for byte; restoring twice changes nothing', async () => {
    const restore = await presence(['restore', runId, '--json']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(reachedStep('restore', parseJson<RestoreRecord>(restore.stdout).restore)).toMatchObject({ restored: expired.length, conflicts: 0 });
    expect(bytesOf(await storedDocuments(database.db(), 'sessions'))).toBe(original);

    const again = await presence(['restore', runId, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(reachedStep('restore', parseJson<RestoreRecord>(again.stdout).restore)).toMatchObject({ restored: 0, alreadyRestored: expired.length, conflicts: 0 });
    expect(bytesOf(await storedDocuments(database.db(), 'sessions'))).toBe(original);
  });

  it('leaves a session whose expires was extended between plan and delete (the user came back), and restore does not overwrite it', async () => {
    // Enough expired sessions, one a second, for another process to pause the run before it is done (each CLI
    // process takes seconds to start on a loaded machine): the user's request lands while it is paused. Not many
    // more: on a loaded machine the back-off may stretch each second into several.
    const more = Array.from({ length: 20 }, (_, i) => session(`sid-more-${String(i).padStart(2, '0')}`, -(i + 1) * 60 * MINUTE));
    await sessions().insertMany(more as never);
    const going = [...expiredIds, ...more.map((document) => document._id as string)];
    const before = await storedDocuments(database.db(), 'sessions');

    const running = presence(['run', TASK, '--json', '--batch-size', '1', '--rate', '1'], { timeoutMs: 200_000 });
    let id: string | undefined;
    await until(
      'the run has started',
      async () => {
        id = (await runs().findOne({ 'task.id': TASK, dryRun: false, status: 'running' }))?._id;
        return id !== undefined;
      },
      { withinMs: 60_000 },
    );
    const pause = await presence(['pause', id!]);
    expect(pause.code, pause.stderr).toBe(0);
    await until('the run is paused', async () => (await runs().findOne({ _id: id! }))?.status === 'paused', { withinMs: 60_000 });

    const stillThere = await sessions().find({ _id: { $in: going } }, { sort: { _id: -1 } }).toArray();
    expect(stillThere.length).toBeGreaterThan(0);
    const touched = stillThere[0]!._id;
    // What connect-mongo's touch() does: a new expiry, nothing else.
    await sessions().updateOne({ _id: touched }, { $set: { expires: new Date(Date.now() + 24 * 60 * MINUTE) } });
    const resume = await presence(['resume', id!]);
    expect(resume.code, resume.stderr).toBe(0);

    const run = await running;
    expect(run.code, run.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(run.stdout);
    expect(reachedStep('apply', record.result)).toMatchObject({ planned: going.length, written: going.length - 1, skipped: 1, failed: 0 });
    expect(reachedStep('verify', record.verify)).toMatchObject({ changedSince: 1 });
    const left = (await sessions().find({}, { sort: { _id: 1 } }).toArray()).map((document) => document._id);
    expect(left).toEqual([touched, ...alive.map((document) => document._id)].sort());

    const restore = await presence(['restore', record._id, '--json']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(reachedStep('restore', parseJson<RestoreRecord>(restore.stdout).restore)).toMatchObject({ restored: going.length - 1, conflicts: 1 });
    const now = await storedDocuments(database.db(), 'sessions');
    expect(bytesOf(now.filter((document) => document._id !== touched))).toBe(bytesOf(before.filter((document) => document._id !== touched)));
    expect((now.find((document) => document._id === touched)!.expires as Date).getTime()).toBeGreaterThan(Date.now());
  });
});
