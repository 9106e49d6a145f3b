import { EJSON } from 'bson';
import { describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { silentObserver } from '../../src/engine/observer.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { runBundledTask } from './engine-run.ts';
import { idsOf, population, PRESENCE_CASES, staleIds, writeConfig, type PresenceCase } from './population.ts';
import { changedIds, snapshot } from './snapshot.ts';

const database = useTestDatabase('presencestale');
const stateDir = tempStateDir();
const SECOND = 1000;
const MINUTE = 60 * SECOND;

async function seed(presence: PresenceCase, now = new Date()) {
  const pop = population(presence, now);
  const users = database.db().collection(presence.collection);
  await users.deleteMany({});
  await users.insertMany(pop.users);
  return pop;
}

function stale(presence: PresenceCase, ...args: string[]) {
  return runCli(['stale', '--uri', database.uri(), '--config', writeConfig(stateDir, presence), ...args], {
    env: { PRESENCE_STATE_DIR: stateDir },
  });
}

function modelParams(presence: PresenceCase): Record<string, unknown> {
  return { ...presence.settings, minutes: 60 };
}

describe.each(PRESENCE_CASES)('presence stale ($name)', (presence) => {
  it('sets offline exactly the online users inactive longer than --minutes, with their companion fields', async () => {
    const pop = await seed(presence);
    const before = await snapshot(database.db(), presence.collection);
    const expected = staleIds(pop, presence, 60);
    expect(expected.length).toBeGreaterThan(5);
    expect(expected.length).toBeLessThan(idsOf(pop, 'stale').length);

    const result = await stale(presence, '--minutes=60', '--json');
    expect(result.code).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record).toMatchObject({ status: 'succeeded', params: { minutes: 60 } });
    expect(record.result).toEqual({ state: 'done', planned: expected.length, written: expected.length, skipped: 0, failed: 0, remaining: 0 });

    const after = await snapshot(database.db(), presence.collection);
    expect(changedIds(before, after)).toEqual(expected);
    for (const id of expected) {
      const was = EJSON.parse(before.get(id)!);
      // Offline, companions cleared, last activity kept as it was: nothing else touched.
      expect(EJSON.parse(after.get(id)!)).toEqual({ ...was, [presence.onlineField]: presence.offlineValue, ...presence.companions });
    }
  });

  it('shows the cut-off and writes nothing in a dry run', async () => {
    const pop = await seed(presence);
    const checksum = await collectionChecksum(database.db(), presence.collection);
    const result = await stale(presence, '--dry-run', '--minutes', '60');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/cut-off \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z: online users last active before it \(60 min ago\)/);
    expect(result.stdout).toContain(`${staleIds(pop, presence, 60).length} document(s) to change`);
    expect(await collectionChecksum(database.db(), presence.collection)).toBe(checksum);
  });

  it('cuts off to the second: older than N minutes goes offline, N minutes exactly does not', async () => {
    const now = new Date('2026-11-25T12:00:00.000Z');
    const users = database.db().collection<{ _id: string }>(presence.collection);
    await users.deleteMany({});
    const online = presence.onlineValues[0];
    const seenAt = (ms: number) => new Date(now.getTime() - 60 * MINUTE + ms);
    await users.insertMany([
      { _id: 'one-second-past', [presence.onlineField]: online, [presence.lastSeenField]: seenAt(-SECOND) },
      { _id: 'one-ms-past', [presence.onlineField]: online, [presence.lastSeenField]: seenAt(-1) },
      { _id: 'exactly-at-cutoff', [presence.onlineField]: online, [presence.lastSeenField]: seenAt(0) },
      { _id: 'one-second-inside', [presence.onlineField]: online, [presence.lastSeenField]: seenAt(SECOND) },
    ]);
    const record = await runBundledTask({
      db: database.db(),
      database: database.name,
      taskId: 'presence-stale',
      params: modelParams(presence),
      now,
    });
    expect(record.error).toBeUndefined();
    expect(record.status).toBe('succeeded');
    const offline = await users.find({ [presence.onlineField]: presence.offlineValue }).map((user) => user._id).toArray();
    expect(offline.sort()).toEqual(['one-ms-past', 'one-second-past']);
  });

  it('leaves alone a user who came back online between plan and apply', async () => {
    const now = new Date();
    const pop = await seed(presence, now);
    const users = database.db().collection(presence.collection);
    const planned = staleIds(pop, presence, 60);
    const [returning] = planned;
    const wasOnlineAs = pop.users.find((user) => user._id === returning)![presence.onlineField];
    let otherWriter: Promise<unknown> = Promise.resolve();
    const record = await runBundledTask({
      db: database.db(),
      database: database.name,
      taskId: 'presence-stale',
      params: modelParams(presence),
      now,
      // Once the backup is on disk, before the first write, the Socket.IO server records activity.
      observer: {
        ...silentObserver,
        stepFinished: (step) => {
          if (step === 'backup') otherWriter = users.updateOne({ _id: returning as never }, { $set: { [presence.lastSeenField]: new Date() } });
        },
      },
      beforeBatch: async () => void (await otherWriter),
    });
    expect(record.status).toBe('succeeded');
    expect(record.result).toMatchObject({ planned: planned.length, written: planned.length - 1, skipped: 1 });
    const user = await users.findOne({ _id: returning as never });
    expect(user?.[presence.onlineField]).toBe(wasOnlineAs);
    expect(await users.countDocuments({ _id: { $in: planned.slice(1) as never[] }, [presence.onlineField]: presence.offlineValue })).toBe(
      planned.length - 1,
    );
  });
});

describe('presence stale with bad input', () => {
  const presence = PRESENCE_CASES[0]!;

  it.each([
    [['--minutes=0'], /--minutes must be between 1 and 525600, got 0/],
    [['--minutes=-5'], /--minutes must be a whole number, got "-5"/],
    [['--minutes', 'abc'], /--minutes must be a whole number, got "abc"/],
    [['--minutes=1.5'], /--minutes must be a whole number, got "1.5"/],
    [['--minutes=99999999'], /--minutes must be between 1 and 525600/],
    [['--scheduled', '--interval=0'], /--interval must be between 0.01 and 1440 minutes, got 0/],
    [['--scheduled', '--interval=-1'], /--interval must be a number of minutes, got "-1"/],
    [['--scheduled', '--interval=soon'], /--interval must be a number of minutes, got "soon"/],
    [['--scheduled', '--interval=100000'], /--interval must be between 0.01 and 1440 minutes/],
    [['--interval=15'], /--interval only applies with --scheduled/],
    [['--minuts=5'], /^presence: unknown option '--minuts=5' \(Did you mean --minutes\?\)\n$/],
    [['--offline-set', '{socketId: null'], /presence setting offlineSet \(--offline-set\): must be a JSON object/],
    [['--online-values', 'online,away'], /presence setting onlineValues needs offlineValue/],
    [['--last-seen-field', 'isOnline'], /onlineField and lastSeenField are both "isOnline"/],
    [['--online-field', 'profile.$online'], /presence setting onlineField \(--online-field\): must be a field or a dotted path \(e\.g\. presence\.online\), and this one has a segment starting with "\$"/],
    [['--online-field', 'presence', '--last-seen-field', 'presence.lastSeen'], /^presence: presence settings: onlineField "presence" holds lastSeenField "presence\.lastSeen"/],
  ])('%j: one line, exit 2, nothing written', async (args, message) => {
    await seed(presence);
    const checksum = await collectionChecksum(database.db(), presence.collection);
    const result = await stale(presence, ...args);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    expect(await collectionChecksum(database.db(), presence.collection)).toBe(checksum);
  });

  it('names the env var holding a bad threshold', async () => {
    const result = await runCli(['stale', '--uri', database.uri(), '--dry-run'], {
      env: { PRESENCE_STATE_DIR: stateDir, PRESENCE_STALE_MINUTES: 'soon' },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('presence: presence setting staleMinutes (PRESENCE_STALE_MINUTES): must be a whole number of minutes, got "soon"\n');
  });

  it('refuses a last-activity field that no document has, audited, nothing written', async () => {
    await seed(presence);
    const checksum = await collectionChecksum(database.db(), presence.collection);
    const result = await stale(presence, '--last-seen-field', 'lastSeenAt');
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/error at plan: no document in "members" has the field "lastSeenAt" \(check the lastSeenField setting\)/);
    expect(await collectionChecksum(database.db(), presence.collection)).toBe(checksum);
  });

  it('refuses a missing collection, exit 2', async () => {
    const result = await stale(presence, '--collection', 'nobody_here');
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/collection "nobody_here" does not exist/);
  });

  it('runs as a plain task with defaults: presence run presence-stale --param minutes=60', async () => {
    const users = database.db().collection<{ _id: string; isOnline: boolean; lastSeen: Date }>('users');
    const now = Date.now();
    await users.insertMany([
      { _id: 'away-2h', isOnline: true, lastSeen: new Date(now - 120 * MINUTE) },
      { _id: 'active', isOnline: true, lastSeen: new Date(now - 5 * MINUTE) },
      { _id: 'gone', isOnline: false, lastSeen: new Date(now - 500 * MINUTE) },
    ]);
    const result = await runCli(['run', 'presence-stale', '--param', 'minutes=60', '--uri', database.uri(), '--json'], {
      env: { PRESENCE_STATE_DIR: stateDir },
    });
    expect(result.code).toBe(0);
    expect(parseJson<TaskRunRecord>(result.stdout).result).toMatchObject({ written: 1 });
    expect(await users.find({ isOnline: false }).map((user) => user._id).toArray()).toEqual(['away-2h', 'gone']);

    const zero = await runCli(['run', 'presence-stale', '--param', 'minutes=0', '--uri', database.uri()], {
      env: { PRESENCE_STATE_DIR: stateDir },
    });
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/parameter "minutes": must be at least 1 minute/);
  });
});
