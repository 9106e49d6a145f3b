import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentObserver } from '../../src/engine/observer.ts';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { CONNECTED_SERVICE } from '../../src/presence/connected.ts';
import { endpointSource } from '../../src/presence/connected/endpoint-source.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { reachedStep } from '../support/records.ts';
import { until } from '../support/until.ts';
import { connectUsers, offlineUsers, startPlatform, type PlatformClient, type PlatformNode } from '../support/socketio-platform.ts';
import { runBundledTask } from './engine-run.ts';

/**
 * The platform as it is after a crash: a real Socket.IO server process keeps
 * presence in the users collection; it is killed with users connected, a new
 * one starts, and only some of them come back. Users' _id are ObjectIds, named
 * by their hex in the connected set.
 */
const database = useTestDatabase('presence_reconcile');
const token = randomBytes(24).toString('base64url');
const stateDir = tempStateDir();
const users = () => database.db().collection('users');

let node: PlatformNode;
const clients: PlatformClient[] = [];
const people = offlineUsers(9);
const id = (n: number) => people[n]!._id.toHexString();
/** Back after the crash: online in the database and connected. */
const back = [0, 1];
/** Gone with the crashed server, ten minutes ago: the ghosts. */
const ghosts = [2, 3, 4];
/** Gone with it too, but active a moment ago: inside the grace period, not yet a ghost. */
const recent = 5;
/** Connected, and shown online. */
const steady = 6;
/** Connected, but shown offline (a cleanup set them offline while connected). */
const missing = 7;
/** Offline and not connected: nothing to do. */
const away = 8;

function env(extra: Record<string, string> = {}) {
  return { PRESENCE_STATE_DIR: stateDir, PRESENCE_CONNECTED_TOKEN: token, ...extra };
}

function presence(args: string[], extra: Record<string, string> = {}) {
  return runCli([...args, '--uri', database.uri(), '--connected', node.endpointUrl], { env: env(extra), timeoutMs: 120_000 });
}

async function onlineIds(): Promise<string[]> {
  const online = await users().find({ isOnline: true }, { projection: { _id: 1 } }).toArray();
  return online.map((user) => String(user._id)).sort();
}

const ids = (numbers: number[]) => numbers.map(id).sort();

/** Crash with everyone but `away` connected, restart, and let the survivors reconnect. */
async function afterACrash(): Promise<void> {
  for (const client of clients.splice(0)) client.socket.close();
  await node?.stop();
  await users().deleteMany({});
  await users().insertMany(people.map((person) => ({ ...person })));
  const crashing = await startPlatform({ mongoUri: database.uri(), token });
  await connectUsers(crashing, [...back, ...ghosts, recent].map(id));
  crashing.signal('SIGKILL');
  await crashing.exited;
  const tenMinutesAgo = new Date(Date.now() - 10 * 60_000);
  await users().updateMany({ _id: { $in: ghosts.map((n) => people[n]!._id) } }, { $set: { lastSeen: tenMinutesAgo } });

  node = await startPlatform({ mongoUri: database.uri(), token });
  clients.push(...(await connectUsers(node, [...back, steady, missing].map(id))));
  await users().updateOne({ _id: people[missing]!._id }, { $set: { isOnline: false } });
}

beforeAll(async () => {
  await afterACrash();
});
afterAll(async () => {
  for (const client of clients.splice(0)) client.socket.close();
  await node?.stop();
});

describe('presence reconcile: ghosts from who is really connected', () => {
  beforeEach(afterACrash);

  it('status counts the connected users, the ghosts and the missing exactly', async () => {
    const result = await presence(['status', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { connected } = parseJson<{ connected: Record<string, unknown> }>(result.stdout);
    expect(connected).toMatchObject({
      state: 'known',
      connected: 4,
      sockets: 4,
      servers: 1,
      onlineConnected: back.length + 1,
      ghosts: ghosts.length,
      missing: 1,
      graceSeconds: 120,
    });
    expect(String(connected.source)).toBe(node.endpointUrl);

    const prometheus = await presence(['status', '--format', 'prometheus']);
    expect(prometheus.stdout).toMatch(/^presence_ghost_users\{collection="users",grace_seconds="120"\} 3$/m);
    expect(prometheus.stdout).toMatch(/^presence_missing_users\{collection="users"\} 1$/m);
    expect(prometheus.stdout).toMatch(/^presence_connected_users\{source="[^"]+"\} 4$/m);
    expect(prometheus.stdout).toMatch(/^presence_connected_source_up\{source="[^"]+"\} 1$/m);
  });

  it('plans exactly the ghosts in a dry run, and writes nothing', async () => {
    const before = await collectionChecksum(database.db(), 'users');
    const result = await presence(['reconcile', '--dry-run', '--json']);
    expect(result.code).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record).toMatchObject({ migration: 'presence-reconcile@1', dryRun: true, status: 'succeeded' });
    expect(reachedStep('plan', record.plan).count).toBe(ghosts.length);
    expect(record.notices.join('\n')).toMatch(/connected set read at .* 4 user\(s\), 4 socket\(s\) on 1 server\(s\)/);
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
  });

  it('sets exactly the ghosts offline, and a restore brings them back', async () => {
    const result = await presence(['reconcile', '--json']);
    expect(result.code).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(reachedStep('apply', record.result)).toMatchObject({ planned: 3, written: 3, skipped: 0, failed: 0 });
    expect(await onlineIds()).toEqual(ids([...back, recent, steady]));

    const restored = await runCli(['restore', record._id, '--uri', database.uri(), '--json'], { env: env() });
    expect(restored.code).toBe(0);
    expect(await onlineIds()).toEqual(ids([...back, ...ghosts, recent, steady]));
  });

  it('with --fix-missing also sets online the connected users shown offline', async () => {
    const result = await presence(['reconcile', '--fix-missing', '--json']);
    expect(result.code).toBe(0);
    expect(reachedStep('apply', parseJson<TaskRunRecord>(result.stdout).result)).toMatchObject({ planned: 4, written: 4 });
    expect(await onlineIds()).toEqual(ids([...back, recent, steady, missing]));
    expect(await users().findOne({ _id: people[away]!._id })).toMatchObject({ isOnline: false });
  });

  it('leaves alone a user who connects between plan and write', async () => {
    const returning = ghosts[0]!;
    let reconnected: Promise<unknown> = Promise.resolve();
    const source = endpointSource(node.endpointUrl, { token });
    const record = await runBundledTask({
      db: database.db(),
      database: database.name,
      taskId: 'presence-reconcile',
      params: {},
      now: new Date(),
      services: { [CONNECTED_SERVICE]: source },
      // Once the backup is on disk, before the first write, the user's client connects again.
      observer: {
        ...silentObserver,
        stepFinished: (step) => {
          if (step === 'backup') reconnected = connectUsers(node, [id(returning)]).then((connected) => clients.push(...connected));
        },
      },
      beforeBatch: async () => void (await reconnected),
    });
    await source.close();
    expect(record.status).toBe('succeeded');
    expect(reachedStep('apply', record.result)).toMatchObject({ planned: 3, written: 2, skipped: 1 });
    expect(await onlineIds()).toEqual(ids([...back, returning, recent, steady]));
  });
});

describe('presence reconcile --scheduled', () => {
  beforeAll(afterACrash);

  it('reads the connected set afresh at every interval: a user who leaves after the first run is a ghost at a later one', async () => {
    await database.db().collection('maintenance_runs').deleteMany({ 'task.id': 'presence-reconcile' });
    await database.db().collection('presence_samples').deleteMany({});
    let child: ChildProcess | undefined;
    let output = '';
    const done = runCli(['reconcile', '--scheduled', '--interval=0.02', '--grace', '0', '--uri', database.uri(), '--connected', node.endpointUrl], {
      env: env(),
      timeoutMs: 90_000,
      onStdout: (text, process) => {
        child = process;
        output = text;
      },
    });
    const runs = () => database.db().collection<TaskRunRecord>('maintenance_runs').find({ 'task.id': 'presence-reconcile', dryRun: false }).sort({ startedAt: 1 }).toArray();
    await until('the first run ends', async () => (await runs()).some((run) => run.status === 'succeeded'), { withinMs: 60_000 });
    expect(await onlineIds()).toEqual(ids([...back, steady]));
    // A connected user's socket drops without the platform writing it (as in a crash of its node): online, not connected.
    const leaving = clients.find((client) => client.userId === id(steady))!;
    leaving.socket.close();
    await node.reported('offline', id(steady));
    await users().updateOne({ _id: people[steady]!._id }, { $set: { isOnline: true } });
    await until('a later run sets them offline', async () => (await users().findOne({ _id: people[steady]!._id }))?.isOnline === false, {
      withinMs: 60_000,
    });
    child?.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    expect(output).toMatch(/\[schedule\] reconcile with .* every 0\.02 min/);
    // SIGTERM may land mid-run: that one ends interrupted; none fails or is refused.
    expect((await runs()).filter((run) => run.status === 'failed' || run.status === 'refused')).toEqual([]);
    // After its runs, the scheduler sampled presence with the connected figures of its own source.
    expect(output).not.toContain('presence sample not recorded');
    const sample = await database.db().collection('presence_samples').findOne({ collection: 'users' });
    expect(sample).toMatchObject({ connected: expect.any(Number), ghosts: expect.any(Number), online: expect.any(Number) });
  });
});

describe('presence reconcile refuses what it cannot know', () => {
  beforeAll(afterACrash);

  it('refuses while the deployment does not answer, writing nothing (exit 4)', async () => {
    const before = await collectionChecksum(database.db(), 'users');
    node.signal('SIGSTOP');
    try {
      const result = await presence(['reconcile', '--json', '--connected-timeout', '1']);
      expect(result.code).toBe(4);
      const record = parseJson<TaskRunRecord>(result.stdout);
      expect(record.status).toBe('refused');
      expect(record.error?.step).toBe('plan');
      expect(record.result).toEqual({ state: 'not-reached' });
      const status = await presence(['status', '--json', '--connected-timeout', '1']);
      expect(parseJson<{ connected: Record<string, unknown> }>(status.stdout).connected).toMatchObject({ state: 'unknown' });
    } finally {
      node.signal('SIGCONT');
    }
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
  });

  it('refuses a wrong token as an unreachable source (exit 3), writing nothing', async () => {
    const before = await collectionChecksum(database.db(), 'users');
    const result = await presence(['reconcile'], { PRESENCE_CONNECTED_TOKEN: randomBytes(24).toString('base64url') });
    expect(result.code).toBe(3);
    expect(result.stdout + result.stderr).not.toContain(token);
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
  });

  it('says how to configure a source when none is (exit 2), and status says it too', async () => {
    const result = await runCli(['reconcile', '--uri', database.uri()], { env: { PRESENCE_STATE_DIR: stateDir } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^presence: reconcile needs to know who is connected: --connected <url>.* or --connected-redis <uri>\n$/);
    const status = await runCli(['status', '--uri', database.uri()], { env: { PRESENCE_STATE_DIR: stateDir } });
    expect(status.stdout).toMatch(/connected users: no source configured/);
  });

  it('refuses an endpoint without its token before connecting (exit 2)', async () => {
    const result = await runCli(['reconcile', '--uri', database.uri(), '--connected', node.endpointUrl], {
      env: { PRESENCE_STATE_DIR: stateDir },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^presence: presence setting connectedUrl needs connectedToken: the endpoint refuses a request without its token/);
  });

  it('never prints the token of a URL', async () => {
    const secret = randomBytes(12).toString('hex');
    const url = new URL(node.endpointUrl);
    url.password = secret;
    const result = await runCli(['status', '--uri', database.uri(), '--connected', url.toString()], { env: { PRESENCE_STATE_DIR: stateDir } });
    expect(result.code).toBe(0);
    expect(result.stdout + result.stderr).not.toContain(secret);
  });
});

