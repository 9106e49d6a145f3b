import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { reachedStep } from '../support/records.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';

const database = useTestDatabase('safety');
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
let stateDir: string;

function presence(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(['run', 'flag-users', ...args, '--uri', database.uri(), '--tasks-dir', FIXTURES, '--json'], {
    env: { PRESENCE_STATE_DIR: stateDir, ...env },
  });
}

/** A window of an hour that starts `fromNowMinutes` from now, in UTC. */
function windowFromNow(fromNowMinutes: number): string {
  const start = new Date(Date.now() + fromNowMinutes * 60_000);
  const end = new Date(start.getTime() + 60 * 60_000);
  const hhmm = (d: Date) => d.toISOString().slice(11, 16);
  return `${hhmm(start)}-${hhmm(end)} UTC`;
}

async function unchanged<T>(work: () => Promise<T>): Promise<T> {
  const before = await collectionChecksum(database.db(), 'users');
  const result = await work();
  expect(await collectionChecksum(database.db(), 'users')).toBe(before);
  return result;
}

beforeEach(async () => {
  stateDir = tempStateDir();
  await database.db().dropDatabase();
  await database.db().collection('users').insertMany(Array.from({ length: 8 }, (_, i) => ({ name: `u${i}`, score: i })));
});

describe('production safety', () => {
  it('classifies a local target as development, and records the environment in every run', async () => {
    const record = parseJson<RunRecord>((await presence(['--dry-run'])).stdout);
    expect(record.env).toBe('development');
    const staging = parseJson<RunRecord>((await presence(['--dry-run'], { PRESENCE_ENV: 'staging' })).stdout);
    expect(staging.env).toBe('staging');
  });

  it('refuses an unknown environment as bad usage', async () => {
    const result = await presence(['--env', 'prod']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--env must be one of development, staging, production, got "prod"/);
  });

  it('refuses a write on production without confirmation (exit 4), and audits the refusal', async () => {
    const result = await unchanged(() => presence(['--env', 'production']));
    expect(result.code).toBe(4);
    const record = parseJson<RunRecord>(result.stdout);
    expect(record).toMatchObject({ status: 'refused', env: 'production', error: { step: 'confirm' } });
    expect(record.error?.message).toMatch(/pass --yes and --expect <count>/);
    // Every step the refusal stopped before says so in the record, and the error names the rule that refused.
    expect(record).toMatchObject({
      plan: { state: 'done' },
      confirmation: null,
      backup: { state: 'not-reached' },
      result: { state: 'not-reached' },
      verify: { state: 'not-reached' },
      error: { rule: 'production-confirmation' },
    });
    const refusals = await database.db().collection('maintenance_runs').countDocuments({ status: 'refused' });
    expect(refusals).toBe(1);
  });

  it('runs on production with --yes and the --expect count of a dry run', async () => {
    const dry = parseJson<TaskRunRecord>((await presence(['--env', 'production', '--dry-run'])).stdout);
    const result = await presence(['--env', 'production', '--yes', '--expect', String(reachedStep('plan', dry.plan).count)]);
    expect(result.code, result.stderr).toBe(0);
    expect(parseJson<RunRecord>(result.stdout)).toMatchObject({
      status: 'succeeded',
      confirmation: { by: 'expected-count', expected: 8 },
      result: { written: 8 },
    });
  });

  it('refuses an --expect that does not match the plan, with nothing written', async () => {
    const result = await unchanged(() => presence(['--env', 'production', '--yes', '--expect', '7']));
    expect(result.code).toBe(4);
    expect(parseJson<RunRecord>(result.stdout).error?.message).toMatch(/the plan counts 8 document\(s\), the operator expected 7: nothing written \(--expect\)/);
    const tolerated = await presence(['--env', 'production', '--yes', '--expect', '7', '--tolerance', '15%']);
    expect(tolerated.code).toBe(0);
  });

  it('refuses a write outside the maintenance window, allows it with an audited reason, and always allows a dry run', async () => {
    const closed = windowFromNow(120);
    const refused = await unchanged(() => presence(['--window', closed]));
    expect(refused.code).toBe(4);
    const refusal = parseJson<RunRecord>(refused.stdout);
    expect(refusal.error?.message).toMatch(/outside the maintenance window/);
    expect(refusal.window).toEqual({ inside: false, windows: [closed] });

    const dry = await presence(['--dry-run'], { PRESENCE_MAINTENANCE_WINDOWS: closed });
    expect(dry.code).toBe(0);
    expect(parseJson<RunRecord>(dry.stdout).notices.join(' ')).toMatch(/a real run now would be refused/);

    const overridden = await presence(['--outside-window', 'ghost users block check-in (incident 4711)'], {
      PRESENCE_MAINTENANCE_WINDOWS: closed,
    });
    expect(overridden.code).toBe(0);
    const record = parseJson<RunRecord>(overridden.stdout);
    expect(record.window).toEqual({ inside: false, windows: [closed], overrideReason: 'ghost users block check-in (incident 4711)' });
    const stored = await database.db().collection<RunRecord>('maintenance_runs').findOne({ _id: record._id });
    expect(stored?.window?.overrideReason).toBe('ghost users block check-in (incident 4711)');
  });

  it('runs inside an open window', async () => {
    const result = await presence(['--window', windowFromNow(-30)]);
    expect(result.code).toBe(0);
    expect(parseJson<RunRecord>(result.stdout).window).toMatchObject({ inside: true });
  });

  it('refuses a malformed window as bad usage', async () => {
    const result = await presence(['--window', 'tonight']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/maintenance window "tonight" is not like/);
  });
});
