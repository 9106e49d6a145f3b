import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Long, type Document } from 'bson';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const database = useTestDatabase('presenceindexconflict');
const stateDir = tempStateDir();
const NAME = 'isOnline_1_lastSeen_1';
let proxy: TcpProxy | undefined;

function presence(uri: string, ...args: string[]) {
  return runCli([...args, '--uri', uri], { env: { PRESENCE_STATE_DIR: stateDir } });
}

interface StatusJson {
  figures: { indexes: { indexes: Array<{ servedBy?: string; conflict?: string }> } };
}

/** Every place an operator looks: status (text, JSON, Prometheus), the health check, and the index task, which refuses. */
async function expectConflict(uri: string, why: RegExp): Promise<void> {
  const text = await presence(uri, 'status');
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(new RegExp(`^\\s+presence index\\s+CONFLICT\\s+\\{isOnline: 1, lastSeen: 1\\}: index ${NAME} exists but ${why.source}; drop it, then: presence run presence-indexes$`, 'm'));

  const json = parseJson<StatusJson>((await presence(uri, 'status', '--json')).stdout);
  expect(json.figures.indexes.indexes).toEqual([expect.objectContaining({ conflict: expect.stringMatching(why) })]);
  expect(json.figures.indexes.indexes[0]!.servedBy).toBeUndefined();

  const prometheus = await presence(uri, 'status', '--format', 'prometheus');
  expect(prometheus.stdout).toMatch(/^presence_index_conflict\{collection="users",index="\{isOnline: 1, lastSeen: 1\}"\} 1$/m);

  const health = parseJson<{ checks: Array<{ check: string; result: string; summary?: string; message?: string }> }>(
    (await presence(uri, 'test', '--json')).stdout,
  );
  const indexCheck = health.checks.find((check) => check.check === 'indexes');
  expect(indexCheck?.result).toBe('fail');
  expect(JSON.stringify(indexCheck)).toMatch(new RegExp(`blocked: index ${NAME} exists but`));

  const run = await presence(uri, 'run', 'presence-indexes');
  expect(run.code).toBe(1);
  expect(run.stdout + run.stderr).toMatch(
    new RegExp(`index ${NAME} exists but ${why.source} on users, so it cannot serve the presence queries .*drop it first \\(db\\.users\\.dropIndex\\("${NAME}"\\)\\)`),
  );
}

beforeEach(async () => {
  await database.db().dropDatabase();
  await database.db().collection('users').insertMany([
    { _id: 'a' as never, isOnline: true, lastSeen: new Date() },
    { _id: 'b' as never, isOnline: false, lastSeen: new Date() },
  ]);
});

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe('an index holding the presence index name that cannot serve', () => {
  it('another key: status says CONFLICT naming it, and the index task refuses instead of planning nothing', async () => {
    await database.db().collection('users').createIndex({ lastSeen: 1 }, { name: NAME });
    await expectConflict(database.uri(), /its key is \{"lastSeen":1\}/);
    const names = (await database.db().collection('users').listIndexes().toArray()).map((index) => index.name);
    expect(names.sort()).toEqual(['_id_', NAME]);
  });

  // FerretDB refuses partial and hidden indexes (code 238) and drops `sparse`: the proxy gives listIndexes the
  // answer a MongoDB holding such an index sends; the tool reads it through its real listIndexes path.
  it.each<[string, Document, RegExp]>([
    ['partial', { partialFilterExpression: { isOnline: true } }, /it is partial \(partialFilterExpression \{"isOnline":true\}\)/],
    ['hidden', { hidden: true }, /it is hidden/],
    ['sparse', { sparse: true }, /it is sparse/],
  ])('%s: status says CONFLICT naming it, and the index task refuses', async (_kind, options, why) => {
    proxy = await startTcpProxy(database.uri(), {
      replyWith: (request) =>
        request.command === 'listIndexes' && request.collection === 'users'
          ? {
              cursor: {
                id: Long.ZERO,
                ns: `${database.name}.users`,
                firstBatch: [
                  { v: 2, key: { _id: 1 }, name: '_id_' },
                  { v: 2, key: { isOnline: 1, lastSeen: 1 }, name: NAME, ...options },
                ],
              },
              ok: 1,
            }
          : undefined,
    });
    await expectConflict(proxy.uri, why);
  });
});

describe.skipIf(!process.env.MONGODB_TEST_URI)('on real MongoDB (MONGODB_TEST_URI)', () => {
  it('a partial index under the recommended name: CONFLICT, and the task refuses', async () => {
    await database.db().collection('users').createIndex({ isOnline: 1, lastSeen: 1 }, { name: NAME, partialFilterExpression: { isOnline: true } });
    await expectConflict(database.uri(), /it is partial \(partialFilterExpression \{"isOnline":true\}\)/);
  });
});
