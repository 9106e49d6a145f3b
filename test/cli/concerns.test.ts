import type { ChildProcess } from 'node:child_process';
import type { Document } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RestoreRecord, RunConcerns, TaskRunRecord } from '../../src/engine/run-record.ts';
import { reachedStep } from '../support/records.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { messageDocuments, startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { until } from '../support/until.ts';
import { buildUsers } from '../support/users.ts';

/**
 * A connection string written for an app's reads must not weaken a run: what
 * the run sends is watched on the wire, through the proxy, with a URI that
 * asks for secondaries, one acknowledgement, local reads and no retries.
 */
const database = useTestDatabase('concerns');
const WEAKENING = { readPreference: 'secondaryPreferred', w: '1', readConcernLevel: 'local', retryWrites: 'false', journal: 'false' };
const STALE_USERS = 12;
const OWN_COLLECTIONS = new Set(['users', 'maintenance_runs', 'maintenance_locks', 'maintenance_schedules']);
const WRITES = new Set(['insert', 'update', 'delete', 'findAndModify']);
const READS = new Set(['find', 'aggregate', 'count', 'distinct']);
const RUN_CONCERNS: RunConcerns = {
  reads: { readPreference: 'primary', readConcern: 'majority' },
  writes: { w: 'majority', retryable: true },
  planReads: { readPreference: 'primary' },
};

let stateDir: string;
let proxy: TcpProxy;
let seen: Array<{ command: string; collection?: string; body: Document }>;

function weakened(uri: string): string {
  const url = new URL(uri);
  for (const [name, value] of Object.entries(WEAKENING)) url.searchParams.set(name, value);
  return url.toString();
}

function cli(...args: string[]) {
  return runCli([...args, '--uri', weakened(proxy.uri), '--state-dir', stateDir, '--json']);
}

async function isReplicaSet(): Promise<boolean> {
  const hello = await database.db().admin().command({ hello: 1 });
  return typeof hello.setName === 'string';
}

beforeEach(async () => {
  stateDir = tempStateDir();
  await database.db().dropDatabase();
  await database.db().collection('users').insertMany(
    buildUsers(new Date(), [
      { count: STALE_USERS, online: () => true, minutesAgo: (n) => 120 + n },
      { count: 3, online: () => true, minutesAgo: () => 1 },
    ]),
  );
  proxy = await startTcpProxy(database.uri());
  seen = [];
  proxy.onCommand(({ command, collection, message }) => {
    if (collection !== undefined && OWN_COLLECTIONS.has(collection)) seen.push({ command, collection, body: messageDocuments(message)[0]! });
  });
});

afterEach(async () => {
  await proxy.close();
});

describe('a URI cannot weaken a run', () => {
  it('stale and its restore write with majority and read with majority read concern, whatever the URI says; the records say so', async () => {
    const run = await cli('stale', '--minutes', '30');
    expect(run.code, run.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(run.stdout);
    expect(reachedStep('apply', record.result).written).toBe(STALE_USERS);

    const restore = await cli('restore', record._id);
    expect(restore.code, restore.stderr).toBe(0);
    const restored = parseJson<RestoreRecord>(restore.stdout);
    expect(reachedStep('apply', restored.restore).restored).toBe(STALE_USERS);

    const writes = seen.filter((command) => WRITES.has(command.command));
    const reads = seen.filter((command) => READS.has(command.command));
    // The audit, the lock, the users' updates, and the reads of plan, backup, verify and restore all went through.
    const kinds = new Set(writes.map((command) => `${command.command} ${command.collection}`));
    const required = ['insert maintenance_runs', 'update maintenance_runs', 'insert maintenance_locks', 'delete maintenance_locks', 'update users'];
    // The progress check-in, once a run has written for about a second: a machine's speed decides whether it comes.
    const possible = [...required, 'findAndModify maintenance_runs'];
    for (const kind of required) expect(kinds).toContain(kind);
    expect([...kinds].filter((kind) => !possible.includes(kind))).toEqual([]);
    expect(reads.filter((command) => command.collection === 'users').length).toBeGreaterThanOrEqual(4);
    for (const write of writes) expect(write.body.writeConcern, `${write.command} ${write.collection}`).toEqual({ w: 'majority' });
    for (const read of reads) expect(read.body.readConcern, `${read.command} ${read.collection}`).toEqual({ level: 'majority' });
    expect(record.concerns).toEqual(RUN_CONCERNS);
    expect(restored.concerns).toEqual(RUN_CONCERNS);
    const audited = await database.db().collection<TaskRunRecord>('maintenance_runs').findOne({ _id: record._id });
    expect(audited?.concerns).toEqual(RUN_CONCERNS);
  });

  it("a scheduled run's claim of its interval is written with majority too", async () => {
    let child: ChildProcess | undefined;
    const schedule = runCli(
      ['stale', '--scheduled', '--interval=0.02', '--minutes=30', '--uri', weakened(proxy.uri), '--state-dir', stateDir],
      { onStdout: (_text, process) => (child = process) },
    );
    const sent = (command: string, collection: string) => seen.some((seen) => seen.command === command && seen.collection === collection);
    await until('an interval was claimed and run', () => sent('insert', 'maintenance_schedules') && sent('update', 'users'));
    child?.kill('SIGTERM');
    expect((await schedule).code).toBe(0);

    const claims = seen.filter((command) => command.collection === 'maintenance_schedules' && WRITES.has(command.command));
    expect(claims.map((command) => command.command)).toContain('insert');
    for (const claim of claims) expect(claim.body.writeConcern, claim.command).toEqual({ w: 'majority' });
  });

  it('the plan reads a secondary only when asked, and says so with the plan', async () => {
    const run = await runCli([
      'stale', '--minutes', '30', '--dry-run', '--plan-read-preference', 'secondaryPreferred',
      '--uri', weakened(proxy.uri), '--state-dir', stateDir,
    ]);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('reads that decide or check writes: primary, read concern majority · writes: w majority, retryable · plan read from: secondaryPreferred');
    const record = await database.db().collection<TaskRunRecord>('maintenance_runs').findOne({});
    expect(record?.concerns).toEqual({ ...RUN_CONCERNS, planReads: { readPreference: 'secondaryPreferred' } });
  });

  it('a read preference that is not a mode is bad input: one line, exit 2, nothing written', async () => {
    const run = await runCli(['stale', '--plan-read-preference', 'secondaryPrefered', '--uri', database.uri(), '--state-dir', stateDir]);

    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^presence: .*--plan-read-preference.*'secondaryPrefered' is invalid/)]);
    expect(await database.db().collection('users').countDocuments({ isOnline: true })).toBe(STALE_USERS + 3);
    expect(await database.db().listCollections({ name: 'maintenance_runs' }).toArray()).toEqual([]);
  });

  // On a replica set only: the driver sends no read preference and no transaction number to a standalone server.
  it.runIf(process.env.MONGODB_TEST_URI)('on a replica set, only the plan reads a secondary, and writes are retryable', async (context) => {
    if (!(await isReplicaSet())) context.skip();

    const run = await cli('stale', '--minutes', '30', '--plan-read-preference', 'secondaryPreferred');

    expect(run.code, run.stderr).toBe(0);
    // Through the proxy the connection is direct, where the driver sends primaryPreferred for primary (server selection spec).
    const secondaryReads = seen.filter((command) => /secondary|nearest/.test(String(command.body.$readPreference?.mode)));
    expect(secondaryReads.length).toBeGreaterThan(0);
    for (const read of secondaryReads) {
      expect(read.collection).toBe('users');
      // The plan's count and sample: never the pre-reads of verify, which name `_id`s.
      expect(JSON.stringify(read.body)).not.toContain('$in');
    }
    for (const write of seen.filter((command) => WRITES.has(command.command))) {
      expect(write.body.txnNumber, `${write.command} ${write.collection}`).toBeDefined();
    }
  });
});
