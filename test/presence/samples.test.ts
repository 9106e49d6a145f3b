import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Document } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bytesPerDay, readSamples, SAMPLES_COLLECTION, type PresenceSample } from '../../src/presence/samples.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { startTcpProxy, type SeenCommand, type TcpProxy } from '../support/tcp-proxy.ts';
import { buildUsers } from '../support/users.ts';
import { until } from '../support/until.ts';

const database = useTestDatabase('presencesamples');
const MINUTE = 60_000;
const DAY = 86_400_000;
let stateDir: string;
let proxy: TcpProxy | undefined;

interface StatusJson {
  figures: { total: number; online: number; stale: number; malformed: number; measuredAt: { $date: string } };
}

const samples = () => database.db().collection<PresenceSample>(SAMPLES_COLLECTION);

function status(...args: string[]) {
  return runCli(['status', '--uri', database.uri(), '--state-dir', stateDir, ...args]);
}

/** A sample as another process would have left it, `minutesAgo` before now. */
function storedSample(collection: string, at: Date): PresenceSample {
  const minute = new Date(Math.floor(at.getTime() / MINUTE) * MINUTE);
  return {
    _id: `${collection}@${minute.toISOString()}`,
    collection,
    at: minute,
    measuredAt: at,
    total: 10,
    online: 5,
    stale: 1,
    malformed: 0,
    connected: null,
    onlineConnected: null,
    ghosts: null,
    missing: null,
  };
}

/** MongoDB's reply to a user without the privilege of `command` (insert, delete) on the samples collection. */
function refusedOnSamples(command: string) {
  return (seen: SeenCommand): Document | undefined => {
    if (seen.command !== command || seen.collection !== SAMPLES_COLLECTION) return undefined;
    return {
      ok: 0,
      errmsg: `not authorized on ${database.name} to execute command { ${command}: "${SAMPLES_COLLECTION}", ordered: true, $db: "${database.name}" }`,
      code: 13,
      codeName: 'Unauthorized',
    };
  };
}
const refusedSampleInsert = refusedOnSamples('insert');
const refusedSamplePrune = refusedOnSamples('delete');

/** Two commands that must land in one minute start early enough in it. */
async function awayFromMinuteEnd(): Promise<void> {
  const intoMinute = Date.now() % MINUTE;
  if (intoMinute > 45_000) await sleep(MINUTE - intoMinute + 200);
}

beforeEach(async () => {
  stateDir = tempStateDir();
  await database.db().dropDatabase();
  const now = new Date();
  await database.db().collection('users').insertMany(
    buildUsers(now, [
      { count: 4, online: () => true, minutesAgo: (n) => n },
      { count: 3, online: () => true, minutesAgo: (n) => 90 + n },
      { count: 5, online: () => false, minutesAgo: () => 600 },
      { count: 2, online: () => 'yes' },
    ]),
  );
});

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe('presence status records a presence sample', () => {
  it('one sample, whose figures are those status --json reports', async () => {
    const result = await status('--json');

    expect(result.code, result.stderr).toBe(0);
    const { figures } = parseJson<StatusJson>(result.stdout);
    const recorded = await samples().find().toArray();
    expect(recorded).toHaveLength(1);
    const measuredAt = new Date(figures.measuredAt.$date);
    const minute = new Date(Math.floor(measuredAt.getTime() / MINUTE) * MINUTE);
    expect(recorded[0]).toEqual({
      _id: `users@${minute.toISOString()}`,
      collection: 'users',
      at: minute,
      measuredAt,
      total: figures.total,
      online: figures.online,
      stale: figures.stale,
      malformed: figures.malformed,
      connected: null,
      onlineConnected: null,
      ghosts: null,
      missing: null,
    });
    expect(recorded[0]).toMatchObject({ total: 14, online: 7, stale: 3, malformed: 2 });
  });

  it('two status runs in the same minute leave one sample, in every format', async () => {
    await awayFromMinuteEnd();

    const first = await status();
    const second = await status('--format', 'prometheus');

    expect([first.code, second.code]).toEqual([0, 0]);
    expect(first.stdout).not.toContain('presence samples');
    expect(await samples().countDocuments()).toBe(1);
  });

  it('prunes the samples older than the retention, of this collection only, on the next recording', async () => {
    const now = Date.now();
    const old = [40, 31, 20, 3].map((days) => storedSample('users', new Date(now - days * DAY)));
    const otherCollection = storedSample('members', new Date(now - 40 * DAY));
    await samples().insertMany([...old, otherCollection]);

    const result = await status('--samples-retention', '30');

    expect(result.code, result.stderr).toBe(0);
    const left = await samples().find({}, { sort: { _id: 1 } }).toArray();
    expect(left.map((sample) => sample._id)).toEqual([otherCollection._id, old[2]!._id, old[3]!._id, expect.stringMatching(/^users@/)]);

    const fromEnv = await runCli(['status', '--uri', database.uri(), '--state-dir', stateDir], {
      env: { PRESENCE_SAMPLES_RETENTION_DAYS: '7' },
    });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    // The second status may fall in the first's minute: then it records nothing and prunes nothing.
    const recordedAgain = (await samples().countDocuments({ collection: 'users' })) === 2;
    if (recordedAgain) expect(await samples().findOne({ _id: old[2]!._id })).toBeNull();
  });

  it('a sample whose prune is refused is recorded, and status says in one last line that the old ones stay', async () => {
    const expired = storedSample('users', new Date(Date.now() - 40 * DAY));
    await samples().insertOne(expired);
    proxy = await startTcpProxy(database.uri(), { replyWith: refusedSamplePrune });

    const result = await runCli(['status', '--uri', proxy.uri, '--state-dir', stateDir]);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
      `presence samples: recorded, but those past the retention not pruned, so they pile up (not authorized: the server refused delete on ${database.name}.${SAMPLES_COLLECTION} to this user (Unauthorized, code 13); the login worked, a privilege is missing: grant the user the readWrite role on database "${database.name}")`,
    );
    expect(await samples().countDocuments({ collection: 'users' })).toBe(2);
    expect(await samples().findOne({ _id: expired._id })).not.toBeNull();
  });

  it('retention 0 records nothing and says nothing', async () => {
    const result = await status('--samples-retention', '0');

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('presence samples');
    expect(await samples().countDocuments()).toBe(0);
  });

  it('a refused sample (13 Unauthorized) leaves status at exit 0, with one last line in text and nothing new in json', async () => {
    proxy = await startTcpProxy(database.uri(), { replyWith: refusedSampleInsert });

    const text = await runCli(['status', '--uri', proxy.uri, '--state-dir', stateDir]);
    const json = await runCli(['status', '--uri', proxy.uri, '--state-dir', stateDir, '--json']);

    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.trimEnd().split('\n').at(-1)).toBe(
      `presence samples: not recorded (not authorized: the server refused insert on ${database.name}.${SAMPLES_COLLECTION} to this user (Unauthorized, code 13); the login worked, a privilege is missing: grant the user the readWrite role on database "${database.name}")`,
    );
    expect(json.code, json.stderr).toBe(0);
    expect(json.stderr).toBe('');
    expect(json.stdout).not.toContain('not recorded');
    expect(() => parseJson(json.stdout)).not.toThrow();
    expect(await samples().countDocuments()).toBe(0);
  });

  it.each([
    [['--samples-retention', '1.5'], {}, '--samples-retention'],
    [['--samples-retention', '3651'], {}, '--samples-retention'],
    [[], { PRESENCE_SAMPLES_RETENTION_DAYS: 'forever' }, 'PRESENCE_SAMPLES_RETENTION_DAYS'],
  ])('a bad retention (%j %j) is a one-line usage error naming it, exit 2, nothing written', async (args, env, source) => {
    const result = await runCli(['status', '--uri', database.uri(), '--state-dir', stateDir, ...args], { env });

    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^presence: presence setting samplesRetentionDays \\(${source}\\): must be`));
    expect(result.stdout).toBe('');
    expect(await samples().countDocuments()).toBe(0);
  });
});

describe('readSamples', () => {
  const since = new Date('2026-11-30T00:00:00.000Z');
  const perMinute = (collection: string, count: number) =>
    Array.from({ length: count }, (_, n) => storedSample(collection, new Date(since.getTime() + n * MINUTE + 30_000)));

  it('returns every sample of the range in time order while they fit, and no other collection', async () => {
    await samples().insertMany([...perMinute('users', 30), ...perMinute('users@2026-11-30T00:15', 5), ...perMinute('members', 5)]);

    const read = await readSamples(database.db(), 'users', new Date(since.getTime() + 10 * MINUTE), new Date(since.getTime() + 20 * MINUTE), 100);

    expect(read.map((sample) => sample.at.getTime())).toEqual(Array.from({ length: 10 }, (_, n) => since.getTime() + (10 + n) * MINUTE));
    expect(read.every((sample) => sample.collection === 'users')).toBe(true);
  });

  it('keeps the last sample of each bucket when more than maxPoints fall in the range', async () => {
    await samples().insertMany(perMinute('users', 300));
    const until = new Date(since.getTime() + 300 * MINUTE);

    const read = await readSamples(database.db(), 'users', since, until, 50);

    // 300 minutes in 50 buckets of 6: the last of each is its sixth minute.
    expect(read).toHaveLength(50);
    expect(read.map((sample) => sample.at.getTime())).toEqual(Array.from({ length: 50 }, (_, n) => since.getTime() + (6 * n + 5) * MINUTE));
    const uneven = await readSamples(database.db(), 'users', since, until, 7);
    expect(uneven.length).toBeLessThanOrEqual(7);
    expect(uneven.map((sample) => sample._id)).toEqual([...uneven.map((sample) => sample._id)].sort());
    expect(uneven.at(-1)?.at.getTime()).toBe(since.getTime() + 299 * MINUTE);
  });
});

describe('presence stale --scheduled', () => {
  /** A scheduler every 1.2 s; `stop` sends SIGTERM and gives its result. */
  function scheduledStale(uri: string) {
    let child: ChildProcess | undefined;
    let output = '';
    const done = runCli(['stale', '--scheduled', '--interval=0.02', '--minutes=60', '--uri', uri, '--state-dir', stateDir], {
      timeoutMs: 90_000,
      onStdout: (text, process) => {
        child = process;
        output = text;
      },
    });
    return {
      output: () => output,
      stop: () => {
        child?.kill('SIGTERM');
        return done;
      },
    };
  }

  it('records a presence sample after an interval it ran, and stops cleanly on SIGTERM', async () => {
    const schedule = scheduledStale(database.uri());

    await until('a sample was recorded', async () => (await samples().countDocuments({ collection: 'users' })) > 0, { withinMs: 60_000 });
    const result = await schedule.stop();

    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).not.toContain('presence sample not recorded');
    const sample = await samples().findOne({ collection: 'users' });
    // Measured after the run set the users inactive over 60 minutes offline.
    expect(sample).toMatchObject({ total: 14, online: 4, stale: 0, malformed: 2, connected: null });
  });

  it('logs a refused sample and goes on with its runs', async () => {
    proxy = await startTcpProxy(database.uri(), { replyWith: refusedSampleInsert });
    const schedule = scheduledStale(proxy.uri);
    const refusals = () => schedule.output().match(/^\[schedule\] presence sample not recorded: not authorized: .*$/gm) ?? [];

    await until('two intervals ran, each sample refused', () => refusals().length >= 2, { withinMs: 60_000, detail: schedule.output });
    const result = await schedule.stop();

    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(refusals()[0]).toContain(`the server refused insert on ${database.name}.${SAMPLES_COLLECTION}`);
    expect(await samples().countDocuments()).toBe(0);
  });

  it('logs a sample whose prune is refused, in one line, and goes on', async () => {
    await samples().insertOne(storedSample('users', new Date(Date.now() - 40 * DAY)));
    proxy = await startTcpProxy(database.uri(), { replyWith: refusedSamplePrune });
    const schedule = scheduledStale(proxy.uri);
    const notPruned = () => schedule.output().match(/^\[schedule\] presence sample recorded, but those past the retention not pruned, so they pile up: not authorized: .*$/gm) ?? [];

    await until('a sample recorded, its prune refused', () => notPruned().length >= 1, { withinMs: 60_000, detail: schedule.output });
    const result = await schedule.stop();

    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(notPruned()[0]).toContain(`the server refused delete on ${database.name}.${SAMPLES_COLLECTION}`);
    expect(result.stdout).not.toContain('presence sample not recorded');
    expect(await samples().countDocuments({ collection: 'users' })).toBe(2);
  });
});

describe('the size of samples', () => {
  it('is stated in docs/presence.md as bytesPerDay() measures it', () => {
    const docs = readFileSync(join(REPO, 'docs', 'presence.md'), 'utf8');
    expect(docs).toContain(bytesPerDay().toLocaleString('en-US'));
  });
});
