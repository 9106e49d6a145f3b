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

  it('reads records written by the previous version of the tool in today\'s shape', async () => {
    const runs = database.db().collection<{ _id: string; [field: string]: unknown }>('maintenance_runs');
    await runs.deleteMany({});
    const startedAt = new Date('2026-11-20T02:00:00Z');
    const common = {
      migration: 'flag-users@1',
      task: { id: 'flag-users', version: 1, mode: 'repeatable', checksum: 'c0ffee' },
      params: {},
      operator: 'ops@old-host',
      target: { uri: 'mongodb://127.0.0.1/', database: database.name },
      env: 'development',
      startedAt,
      stepMs: {},
      lockHeld: true,
      notices: [],
    };
    const plan = { collection: 'users', filter: '{}', fields: ['flagged'], count: 2, estimatedBackupBytes: 80 };
    const verify = { checked: 2, inTargetState: 2, notInTargetState: 0, changedSince: 0, missing: 0 };
    // Before step results carried a state: a step not reached was left out, a reached one stored its figures alone.
    await runs.insertMany([
      {
        ...common,
        _id: 'old-run',
        kind: 'run',
        dryRun: false,
        status: 'succeeded',
        window: { inside: true, windows: [] },
        confirmation: { by: 'not-required' },
        endedAt: new Date(startedAt.getTime() + 1500),
        durationMs: 1500,
        plan,
        backup: { path: '/old/backups/old-run', sha256: 'ab'.repeat(32), count: 2, bytes: 120 },
        result: { planned: 2, written: 2, skipped: 0, failed: 0, remaining: 0 },
        verify,
      },
      {
        ...common,
        _id: 'old-restore',
        kind: 'restore',
        dryRun: false,
        status: 'succeeded',
        startedAt: new Date(startedAt.getTime() + 60_000),
        endedAt: new Date(startedAt.getTime() + 61_000),
        durationMs: 1000,
        restoreOf: 'old-run',
        force: false,
        plan,
        restore: { planned: 2, restored: 2, alreadyRestored: 0, conflicts: 0, forced: 0, remaining: 0 },
        verify,
      },
      // Closed by another runner after a crash: an end, no duration, nothing reached.
      {
        ...common,
        _id: 'old-crash',
        kind: 'run',
        dryRun: false,
        status: 'interrupted',
        startedAt: new Date(startedAt.getTime() + 120_000),
        endedAt: new Date(startedAt.getTime() + 180_000),
        error: { step: 'audit', message: 'the runner stopped without finishing', code: 1 },
      },
    ]);

    const history = parseJson<RunRecord[]>((await presence('history', '--uri', database.uri())).stdout);
    const byId = new Map(history.map((record) => [record._id, record]));
    expect(byId.get('old-run')).toMatchObject({
      plan: { state: 'done', count: 2 },
      backup: { state: 'done', path: '/old/backups/old-run' },
      result: { state: 'done', written: 2 },
      verify: { state: 'done', inTargetState: 2 },
    });
    expect(byId.get('old-restore')).toMatchObject({ restoreOf: 'old-run', restore: { state: 'done', restored: 2 }, window: null, confirmation: null });
    expect(byId.get('old-crash')).toMatchObject({
      durationMs: 60_000,
      plan: { state: 'not-reached' },
      backup: { state: 'not-reached' },
      result: { state: 'not-reached' },
      verify: { state: 'not-reached' },
    });

    const plain = await runCli(['history', '--uri', database.uri()], { env: { PRESENCE_STATE_DIR: stateDir } });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/old-run .* 2 written, 0 skipped .* 1\.5 s/);
    expect(plain.stdout).toMatch(/old-restore .* 2 restored, 0 conflicts/);
    expect(plain.stdout).toMatch(/old-crash .* interrupted .* 1 min 0 s/);
  });
});
