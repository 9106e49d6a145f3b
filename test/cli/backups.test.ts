import { readdirSync, statSync, utimesSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/engine/run-record.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';

const database = useTestDatabase('backups');
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
let stateDir: string;

function presence(...args: string[]) {
  return runCli([...args, '--json'], { env: { PRESENCE_STATE_DIR: stateDir } });
}

async function applied(task: string): Promise<RunRecord> {
  await database.db().collection('users').deleteMany({});
  await database.db().collection('users').insertMany([{ email: 'A@B.C' }, { email: 'D@E.F' }]);
  const result = await presence('run', task, '--uri', database.uri(), '--tasks-dir', FIXTURES);
  expect(result.code, result.stderr).toBe(0);
  return parseJson<RunRecord>(result.stdout);
}

/** Makes a backup look `days` old, as its manifest says. */
function age(runId: string, days: number): void {
  const manifestPath = join(stateDir, 'backups', runId, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.createdAt = new Date(Date.now() - days * 86_400_000).toISOString();
  writeFileSync(manifestPath, JSON.stringify(manifest));
  const old = new Date(Date.now() - days * 86_400_000);
  utimesSync(join(stateDir, 'backups', runId), old, old);
}

/** A one-minute window two hours from now: closed at the time of the test. */
function windowNotNow(): string {
  const start = new Date(Date.now() + 2 * 3_600_000).toISOString().slice(11, 16);
  const end = new Date(Date.now() + 2 * 3_600_000 + 60_000).toISOString().slice(11, 16);
  return `${start}-${end} UTC`;
}

beforeEach(() => {
  stateDir = tempStateDir();
});

describe('backups', () => {
  it('are readable by their owner only', async () => {
    const run = await applied('flag-users');
    const dir = join(stateDir, 'backups', run._id);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(dir)) expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, 'audit.jsonl')).mode & 0o777).toBe(0o600);
  });

  it('are listed newest first, and pruned by age, never the latest backup of a task', async () => {
    const oldFlag = await applied('flag-users');
    const newFlag = await applied('flag-users');
    const onlyEmail = await applied('normalize-emails');
    age(oldFlag._id, 40);
    age(newFlag._id, 35);
    age(onlyEmail._id, 50);

    const listed = parseJson<Array<{ runId: string; complete: boolean }>>((await presence('backups', 'list')).stdout);
    expect(listed.map((listing) => listing.runId)).toEqual([newFlag._id, oldFlag._id, onlyEmail._id]);
    expect(listed.every((listing) => listing.complete)).toBe(true);

    const dry = parseJson<{ pruned: Array<{ runId: string }> }>((await presence('backups', 'prune', '--older-than', '30d', '--dry-run')).stdout);
    expect(dry.pruned.map((listing) => listing.runId)).toEqual([oldFlag._id]);
    expect(readdirSync(join(stateDir, 'backups'))).toHaveLength(3);

    const pruned = parseJson<{ pruned: Array<{ runId: string }> }>((await presence('backups', 'prune', '--older-than', '30d')).stdout);
    expect(pruned.pruned.map((listing) => listing.runId)).toEqual([oldFlag._id]);
    expect(readdirSync(join(stateDir, 'backups')).sort()).toEqual([newFlag._id, onlyEmail._id].sort());
  });

  it('refuses a malformed age', async () => {
    const result = await runCli(['backups', 'prune', '--older-than', 'ages'], { env: { PRESENCE_STATE_DIR: stateDir } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/expected an age like 30d/);
  });
});

describe('history', () => {
  it('filters by task, status and environment, and shows the window override reason', async () => {
    stateDir = tempStateDir();
    await applied('flag-users');
    const closed = windowNotNow();
    await database.db().collection('users').insertOne({ name: 'late' });
    const override = await runCli(
      ['run', 'flag-users', '--uri', database.uri(), '--tasks-dir', FIXTURES, '--env', 'staging', '--window', closed, '--outside-window', 'hotfix'],
      { env: { PRESENCE_STATE_DIR: stateDir } },
    );
    expect(override.code, override.stdout).toBe(0);

    const staging = parseJson<RunRecord[]>((await presence('history', '--uri', database.uri(), '--env', 'staging')).stdout);
    expect(staging.map((record) => record.window?.overrideReason)).toContain('hotfix');
    const plain = await runCli(['history', '--uri', database.uri(), '--task', 'flag-users', '--status', 'succeeded'], {
      env: { PRESENCE_STATE_DIR: stateDir },
    });
    expect(plain.stdout).toMatch(/outside, override: hotfix/);
    expect(plain.stdout).not.toMatch(/normalize-emails/);
  });
});
