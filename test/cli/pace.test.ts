import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { reachedStep } from '../support/records.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { buildUsers } from '../support/users.ts';

const database = useTestDatabase('pace');
let stateDir: string;
let proxy: TcpProxy | undefined;

/** `stale` users online and inactive for two hours, `active` ones seen just now, a few offline. */
async function seedPresence(stale: number, active = 10): Promise<void> {
  const users = buildUsers(new Date(), [
    { count: stale, online: () => true, minutesAgo: (n) => 120 + n / 60 },
    { count: active, online: () => true, minutesAgo: (n) => n / 60 },
    { count: 10, online: () => false, minutesAgo: () => 24 * 60 },
  ]);
  await database.db().collection('users').insertMany(users);
}

function stale(uri: string, ...args: string[]) {
  return runCli(['stale', '--minutes', '30', '--uri', uri, '--state-dir', stateDir, ...args], { timeoutMs: 120_000 });
}

beforeEach(async () => {
  stateDir = tempStateDir();
  await database.db().dropDatabase();
});

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe('pace', () => {
  it('holds --rate within 10% over a run of several seconds', async () => {
    await seedPresence(40);

    const result = await stale(database.uri(), '--rate', '10', '--batch-size', '2', '--json');

    expect(result.code, result.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(reachedStep('apply', record.result).written).toBe(40);
    const applySeconds = record.stepMs.apply! / 1000;
    expect(applySeconds).toBeGreaterThanOrEqual(3);
    // Batches 200 ms apart: a back-off after one slow batch rests within that spacing, and the rate still holds.
    const achieved = 40 / applySeconds;
    expect(Math.abs(achieved - 10) / 10, `${achieved.toFixed(1)} docs/s; back-off: ${record.backoff?.join(' | ') ?? 'none'}`).toBeLessThanOrEqual(0.1);
  });

  it('backs off when write latency jumps, says so, audits it, and recovers when it falls', async () => {
    await seedPresence(60);
    let updates = 0;
    // The 8th and 9th write batches are held 400 ms: well above the running median on any engine.
    proxy = await startTcpProxy(database.uri(), {
      delayReply: (request) => (request.command === 'update' && request.collection === 'users' && [8, 9].includes(++updates) ? 400 : 0),
    });

    const result = await stale(proxy.uri, '--batch-size', '2');

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/backing off: a write batch took \d+ ms against a median of \d+ ms; pausing ×2/);
    const runId = /run (\d{8}T\d{6}Z-[0-9a-f]{6})/.exec(result.stdout)![1];
    const record = await database.db().collection<TaskRunRecord>('maintenance_runs').findOne({ _id: runId! });
    expect(record?.status).toBe('succeeded');
    expect(reachedStep('apply', record!.result).written).toBe(60);
    expect(record?.backoff?.[0]).toMatch(/backing off: a write batch took \d+ ms/);
    expect(record?.backoff).toContainEqual(expect.stringMatching(/write latency is back to normal: full pace/));
  });

  it('--max-lag is a no-op where nothing replicates, and says so', async () => {
    await seedPresence(5);
    const result = await stale(database.uri(), '--max-lag', '2', '--json');
    expect(result.code, result.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(reachedStep('apply', record.result).written).toBe(5);
    const hello = await database.db().admin().command({ hello: 1 });
    if (hello.setName === undefined) {
      expect(record.notices).toContainEqual(expect.stringMatching(/--max-lag has nothing to watch/));
    }
  });

  it('a run of more users than FerretDB takes in one update command completes with the default batch size', async () => {
    // FerretDB 1.x hangs on an update of 100 statements or more: the default batch must stay below.
    await seedPresence(150);
    const result = await stale(database.uri(), '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(parseJson<TaskRunRecord>(result.stdout).result).toMatchObject({ written: 150, failed: 0, remaining: 0 });
  });
});

describe('pace: bad input gets one line, exit 2, and nothing written', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['a zero batch size', ['--batch-size', '0'], /--batch-size must be between 1 and 100000, got 0/],
    ['a negative batch size', ['--batch-size', '-5'], /--batch-size must be a whole number, got "-5"/],
    ['a batch size above the largest batch', ['--batch-size', '100001'], /--batch-size must be between 1 and 100000/],
    ['a zero rate', ['--rate', '0'], /--rate must be between 1 and 10000000, got 0/],
    ['a negative rate', ['--rate', '-10'], /--rate must be a whole number, got "-10"/],
    ['a negative max lag', ['--max-lag', '-1'], /--max-lag must be a number of seconds, 0 or more, got "-1"/],
    ['a max lag that is not a number', ['--max-lag', 'soon'], /--max-lag must be a number of seconds/],
  ];

  it.each(cases)('%s', async (_name, args, message) => {
    await seedPresence(5);
    const result = await stale(database.uri(), ...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(await database.db().collection('users').countDocuments({ isOnline: true })).toBe(15);
    expect(await database.db().listCollections({ name: 'maintenance_runs' }).toArray()).toEqual([]);
  });

  it('a batch size above what the server takes in one command', async () => {
    await seedPresence(5);
    const build = await database.db().admin().command({ buildInfo: 1 });
    // MongoDB takes 100,000 (the parser's own limit, above); FerretDB 1.x hangs at 100 statements.
    if (typeof build.ferretdbVersion !== 'string') return;

    const result = await stale(database.uri(), '--batch-size', '100');

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^presence: --batch-size 100 is more than this server takes in one write batch \(\d+: FerretDB/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(await database.db().collection('users').countDocuments({ isOnline: true })).toBe(15);
    expect(await database.db().listCollections({ name: 'maintenance_runs' }).toArray()).toEqual([]);
  });
});
