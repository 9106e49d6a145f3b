import { randomBytes } from 'node:crypto';
import { EJSON } from 'bson';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { silentObserver } from '../../src/engine/observer.ts';
import type { HealthCheck } from '../../src/presence/health-check.ts';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { startDashboardProcess } from '../support/dashboard.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { reachedStep } from '../support/records.ts';
import { connectUsers, startPlatform, type PlatformClient, type PlatformNode } from '../support/socketio-platform.ts';
import { runBundledTask } from './engine-run.ts';
import { changedIds, parse, snapshot } from './snapshot.ts';
import { idsOfKind, subDocumentPopulation, SUB_DOCUMENT_SETTINGS, writeSubDocumentConfig, type SubDocumentUser } from './sub-document-population.ts';

/**
 * Presence kept in `presence: {online, lastSeen, device, socketId}`, beside
 * neighbours no command may touch and every malformed shape of the
 * sub-document: each command through the real CLI on the real database.
 */
const database = useTestDatabase('presence_subdoc');
const stateDir = tempStateDir();
const config = writeSubDocumentConfig(stateDir);
const accounts = () => database.db().collection(SUB_DOCUMENT_SETTINGS.collection);
let users: SubDocumentUser[];

function cli(args: string[], env: Record<string, string> = {}) {
  return runCli([...args, '--uri', database.uri()], { env: { PRESENCE_STATE_DIR: stateDir, ...env }, timeoutMs: 120_000 });
}

/** A presence command, configured by the file a user would write. */
function presence(args: string[], env: Record<string, string> = {}) {
  return cli([...args, '--config', config], env);
}

/** The document as going offline leaves it: the online value and the companion set, every other byte as it was. */
function wentOffline(before: string): string {
  const document = parse(before);
  document.presence.online = false;
  document.presence.socketId = null;
  return EJSON.stringify(document, { relaxed: false });
}

/** Writes exactly `written` offline and leaves every other document byte for byte; a restore gives the collection back. */
async function expectWrittenOfflineThenRestored(record: TaskRunRecord, written: string[], before: Map<string, string>, checksum: string) {
  // The presence filters leave malformed documents out: the engine's own guard finds none among the matches.
  expect(reachedStep('plan', record.plan)).not.toHaveProperty('malformed');
  expect(reachedStep('apply', record.result)).toMatchObject({ planned: written.length, written: written.length, skipped: 0, failed: 0 });
  const after = await snapshot(database.db(), SUB_DOCUMENT_SETTINGS.collection);
  expect(changedIds(before, after)).toEqual(written);
  for (const id of written) expect(after.get(id)).toBe(wentOffline(before.get(id)!));

  const restored = await cli(['restore', record._id, '--json']);
  expect(restored.code, restored.stderr).toBe(0);
  expect(await collectionChecksum(database.db(), SUB_DOCUMENT_SETTINGS.collection)).toBe(checksum);
}

beforeEach(async () => {
  users = subDocumentPopulation(new Date());
  await accounts().drop().catch(() => undefined);
  await accounts().insertMany(users.map((user) => ({ ...user.document })));
});

describe('presence kept in a sub-document', () => {
  it('status counts it exactly, every malformed shape as malformed, in JSON, text, Prometheus, the sample and the dashboard', async () => {
    const count = (...kinds: SubDocumentUser['kind'][]) => idsOfKind(users, ...kinds).length;
    const truth = {
      total: users.length,
      online: count('active', 'recent', 'stale', 'onlineWithoutActivity'),
      offline: count('offline'),
      stale: count('stale'),
      onlineWithoutActivity: count('onlineWithoutActivity'),
      withoutPresence: count('withoutPresence'),
      malformed: count('malformed'),
    };
    expect(truth).toEqual({ total: 25, online: 9, offline: 5, stale: 3, onlineWithoutActivity: 2, withoutPresence: 3, malformed: 8 });
    const checksum = await collectionChecksum(database.db(), SUB_DOCUMENT_SETTINGS.collection);

    const json = await presence(['status', '--json']);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const { figures } = parseJson<{ figures: Record<string, unknown> }>(json.stdout);
    expect(figures).toMatchObject({ ...truth, unknown: {} });
    const oldest = users.filter((user) => user.kind === 'stale').map((user) => (user.document.presence.lastSeen as Date).getTime());
    expect(figures.oldestOnlineActivity).toEqual({ $date: new Date(Math.min(...oldest)).toISOString() });

    const text = await presence(['status']);
    expect(text.stdout).toMatch(/^presence in .*\.accounts: online in presence\.online \(true\/false\), last activity in presence\.lastSeen$/m);
    expect(text.stdout).toMatch(/^\s+malformed presence\s+8\s/m);
    expect(text.stdout).toMatch(/^\s+no presence field\s+3\s+no presence\.online$/m);

    const prometheus = await presence(['status', '--format', 'prometheus']);
    expect(prometheus.stdout).toMatch(/^presence_online_users\{collection="accounts"\} 9$/m);
    expect(prometheus.stdout).toMatch(/^presence_users\{collection="accounts",state="malformed"\} 8$/m);
    expect(prometheus.stdout).toMatch(/^presence_operation_latency_seconds\{operation="count_malformed_parents"\} \d/m);

    const sample = await database.db().collection('presence_samples').findOne({ collection: 'accounts' });
    expect(sample).toMatchObject({ total: truth.total, online: truth.online, stale: truth.stale, malformed: truth.malformed });

    const dashboard = await startDashboardProcess(['--uri', database.uri(), '--config', config], { PRESENCE_STATE_DIR: stateDir });
    try {
      const status = (await (await fetch(`${dashboard.url}/api/status`)).json()) as { figures: Record<string, unknown> };
      expect(status.figures).toMatchObject(truth);
    } finally {
      await dashboard.stop();
    }
    expect(await collectionChecksum(database.db(), SUB_DOCUMENT_SETTINGS.collection)).toBe(checksum);
  });

  it('the index task creates the compound index on the dotted paths, and status and test find it', async () => {
    const params = Object.entries({ ...SUB_DOCUMENT_SETTINGS, offlineSet: JSON.stringify(SUB_DOCUMENT_SETTINGS.offlineSet) }).flatMap(([key, value]) => [
      '--param',
      `${key}=${value}`,
    ]);
    const run = await cli(['run', 'presence-indexes', ...params, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const indexes = await accounts().listIndexes().toArray();
    expect(indexes.map((index) => [index.name, index.key])).toContainEqual([
      'presence.online_1_presence.lastSeen_1',
      { 'presence.online': 1, 'presence.lastSeen': 1 },
    ]);
    expect((await presence(['status'])).stdout).toMatch(/^\s+presence index\s+ok\s+\{presence\.online: 1, presence\.lastSeen: 1\}/m);
    const figures = parseJson<{ figures: Record<string, unknown> }>((await presence(['status', '--json'])).stdout).figures;
    expect(figures).toMatchObject({ online: 9, offline: 5, withoutPresence: 3, malformed: 8 });

    const health = await presence(['test', '--json']);
    const checks = parseJson<{ checks: HealthCheck[] }>(health.stdout).checks;
    const check = (name: string) => checks.find((one) => one.check === name)!;
    expect(check('indexes').result).toBe('pass');
    expect(check('operations').result).toBe('pass');
    // The schema check names every malformed shape, as the writes leave them alone.
    expect(check('schema')).toMatchObject({ result: 'fail' });
    expect(check('schema').summary).toMatch(/^8 of 25 sampled document\(s\) .* have presence fields of the wrong type: /);
    for (const problem of [
      'presence is an array (3)',
      'presence is null (1)',
      'presence is text (1)',
      'presence.online is text (1)',
      'presence.lastSeen is text (1)',
      'presence.online is null (1)',
    ]) {
      expect(check('schema').summary).toContain(problem);
    }
    expect(check('update simulation')).toMatchObject({ result: 'pass', summary: expect.stringMatching(/^stale would set 3 user\(s\) offline/) });
    expect(health.code).toBe(1);
  });

  it('stale sets offline exactly the stale users, neighbours and malformed documents untouched, and a restore gives the collection back', async () => {
    const before = await snapshot(database.db(), SUB_DOCUMENT_SETTINGS.collection);
    const checksum = await collectionChecksum(database.db(), SUB_DOCUMENT_SETTINGS.collection);
    const result = await presence(['stale', '--json']);
    expect(result.code, result.stderr).toBe(0);
    await expectWrittenOfflineThenRestored(parseJson<TaskRunRecord>(result.stdout), idsOfKind(users, 'stale'), before, checksum);
  });

  it('stale leaves alone a user active again between plan and write: only presence.lastSeen changed, the neighbours as they were', async () => {
    const stale = idsOfKind(users, 'stale');
    const returning = users.find((user) => String(user.document._id) === stale[0])!.document;
    let otherWriter: Promise<unknown> = Promise.resolve();
    const activeAgain = new Date();
    const record = await runBundledTask({
      db: database.db(),
      database: database.name,
      taskId: 'presence-stale',
      params: SUB_DOCUMENT_SETTINGS,
      now: new Date(),
      // Once the backup is on disk, before the first write, the platform records activity in the sub-document.
      observer: {
        ...silentObserver,
        stepFinished: (step) => {
          if (step === 'backup') otherWriter = accounts().updateOne({ _id: returning._id }, { $set: { 'presence.lastSeen': activeAgain } });
        },
      },
      beforeBatch: async () => void (await otherWriter),
    });
    expect(record.status).toBe('succeeded');
    expect(record.result).toMatchObject({ planned: stale.length, written: stale.length - 1, skipped: 1 });
    expect(await accounts().findOne({ _id: returning._id })).toEqual({ ...returning, presence: { ...returning.presence, lastSeen: activeAgain } });
  });

  it('cleanup sets offline every well-formed online user, a companion added where it was missing, and a restore removes it again', async () => {
    const before = await snapshot(database.db(), SUB_DOCUMENT_SETTINGS.collection);
    const checksum = await collectionChecksum(database.db(), SUB_DOCUMENT_SETTINGS.collection);
    const result = await presence(['cleanup', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const online = idsOfKind(users, 'active', 'recent', 'stale', 'onlineWithoutActivity');
    await expectWrittenOfflineThenRestored(parseJson<TaskRunRecord>(result.stdout), online, before, checksum);
  });
});

describe('presence reconcile with presence kept in a sub-document', () => {
  const token = randomBytes(24).toString('base64url');
  let node: PlatformNode | undefined;
  const clients: PlatformClient[] = [];
  afterAll(async () => {
    for (const client of clients) client.socket.close();
    await node?.stop();
  });

  it('sets offline exactly the ghosts and online the connected shown offline; a restore gives the collection back', async () => {
    // The platform keeps its own `users`; only its connected set matters here: users' _id are ObjectIds, named by their hex.
    node = await startPlatform({ mongoUri: database.uri(), token });
    const connected = [...users.filter((user) => user.kind === 'active').slice(0, 1), ...users.filter((user) => user.kind === 'offline').slice(0, 2)];
    // A malformed document whose user is connected is left alone too.
    connected.push(users.find((user) => user.kind === 'malformed' && !Array.isArray(user.document.presence) && user.document.presence !== null)!);
    clients.push(...(await connectUsers(node, connected.map((user) => String(user.document._id)))));
    const isConnected = (user: SubDocumentUser) => connected.includes(user);
    const ghosts = users.filter((user) => ['active', 'stale'].includes(user.kind) && !isConnected(user));
    const missing = users.filter((user) => user.kind === 'offline' && isConnected(user));

    const before = await snapshot(database.db(), SUB_DOCUMENT_SETTINGS.collection);
    const checksum = await collectionChecksum(database.db(), SUB_DOCUMENT_SETTINGS.collection);
    const env = { PRESENCE_CONNECTED_TOKEN: token };
    const status = await presence(['status', '--json', '--connected', node.endpointUrl], env);
    expect(parseJson<{ connected: Record<string, unknown> }>(status.stdout).connected).toMatchObject({
      state: 'known',
      connected: connected.length,
      onlineConnected: 1,
      ghosts: ghosts.length,
      missing: missing.length,
    });

    const result = await presence(['reconcile', '--fix-missing', '--json', '--connected', node.endpointUrl], env);
    expect(result.code, result.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    const written = [...ghosts, ...missing].map((user) => String(user.document._id)).sort();
    expect(reachedStep('plan', record.plan)).not.toHaveProperty('malformed');
    expect(reachedStep('apply', record.result)).toMatchObject({ planned: written.length, written: written.length, skipped: 0, failed: 0 });
    const after = await snapshot(database.db(), SUB_DOCUMENT_SETTINGS.collection);
    expect(changedIds(before, after)).toEqual(written);
    for (const user of ghosts) expect(after.get(String(user.document._id))).toBe(wentOffline(before.get(String(user.document._id))!));
    for (const user of missing) {
      const was = parse(before.get(String(user.document._id))!);
      was.presence.online = true;
      expect(after.get(String(user.document._id))).toBe(EJSON.stringify(was, { relaxed: false }));
    }

    const restored = await cli(['restore', record._id, '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await collectionChecksum(database.db(), SUB_DOCUMENT_SETTINGS.collection)).toBe(checksum);
  });
});
