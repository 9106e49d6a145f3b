import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { OWN_INDEXES } from '../../src/db/own-indexes.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { startTcpProxy, type SeenCommand, type TcpProxy } from '../support/tcp-proxy.ts';
import { buildUsers } from '../support/users.ts';

const database = useTestDatabase('ownindexes');
let stateDir: string;
let proxy: TcpProxy | undefined;

function staleDryRun(uri: string) {
  return runCli(['stale', '--dry-run', '--json', '--minutes', '30', '--uri', uri, '--state-dir', stateDir], { timeoutMs: 120_000 });
}

async function indexNames(collection: string): Promise<string[]> {
  return (await database.db().collection(collection).listIndexes().toArray()).map((index) => String(index.name)).sort();
}

beforeEach(async () => {
  stateDir = tempStateDir();
  await database.db().dropDatabase();
  await database.db().collection('users').insertMany(buildUsers(new Date(), [{ count: 5, online: () => true, minutesAgo: () => 120 }]));
});

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe("the tool's own collections", () => {
  it('get the indexes their queries need at the first run, and a second run creates nothing', async () => {
    const created: SeenCommand[] = [];
    proxy = await startTcpProxy(database.uri());
    proxy.onCommand((request) => request.command === 'createIndexes' && created.push(request));

    expect((await staleDryRun(proxy.uri)).code).toBe(0);
    for (const collection of new Set(OWN_INDEXES.map((index) => index.collection))) {
      const wanted = OWN_INDEXES.filter((index) => index.collection === collection).map((index) => index.name);
      expect(await indexNames(collection)).toEqual(['_id_', ...wanted].sort());
    }
    expect(created.length).toBeGreaterThan(0);

    created.length = 0;
    expect((await staleDryRun(proxy.uri)).code).toBe(0);
    expect(created).toEqual([]);
  });

  it('keep an index already serving the same key under another name, rather than adding a second one', async () => {
    const [first] = OWN_INDEXES;
    await database.db().collection(first!.collection).createIndex(first!.key, { name: 'made_by_hand' });
    expect((await staleDryRun(database.uri())).code).toBe(0);
    const names = await indexNames(first!.collection);
    expect(names).toContain('made_by_hand');
    expect(names).not.toContain(first!.name);
  });

  it('run without them, saying so in the run record, when the user may not create indexes', async () => {
    // FerretDB has no access control: the proxy answers createIndexes as MongoDB does for a user without the privilege.
    proxy = await startTcpProxy(database.uri(), {
      replyWith: (request) =>
        request.command === 'createIndexes'
          ? { ok: 0, errmsg: `not authorized on ${database.name} to execute command { createIndexes: "${request.collection}" }`, code: 13, codeName: 'Unauthorized' }
          : undefined,
    });
    const result = await staleDryRun(proxy.uri);
    expect(result.code).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record.status).toBe('succeeded');
    expect(record.notices).toEqual(
      expect.arrayContaining(
        OWN_INDEXES.map((index) =>
          expect.stringMatching(new RegExp(`^could not create the index ${index.name.replace(/[.$]/g, '\\$&')} on ${index.collection} \\(Unauthorized: not authorized`)),
        ),
      ),
    );
    expect(await indexNames('maintenance_runs')).toEqual(['_id_']);
  });
});
