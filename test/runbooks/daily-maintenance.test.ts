import { beforeEach, describe, expect, it } from 'vitest';
import { tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { auditOf, onlineCount, runRunbook, seedUsers, windowFromNow, writingRuns } from './runbook-process.ts';

const database = useTestDatabase('rb_daily');
let env: NodeJS.ProcessEnv;

function daily(args: string[] = []) {
  return runRunbook('daily-maintenance', args, { env: { ...env, MONGODB_URI: database.uri() } });
}

beforeEach(async () => {
  env = { PRESENCE_STATE_DIR: tempStateDir(), PRESENCE_ENV: 'production' };
  await seedUsers(database.db(), { active: 5, stale: 7, offline: 20 });
});

describe('daily-maintenance', () => {
  it('is silent when all is well: users inactive for an hour set offline, the active ones left online, the run audited', async () => {
    const result = await daily();
    expect(result).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await onlineCount(database.db())).toBe(5);
    expect(await database.db().collection('users').countDocuments({ isOnline: true, name: /^active/ })).toBe(5);

    const [dryRun, stale, ...more] = await auditOf(database.db());
    expect(more).toEqual([]);
    expect(dryRun).toMatchObject({ migration: 'presence-stale@1', dryRun: true, params: { minutes: 60 }, plan: { count: 7 } });
    expect(stale).toMatchObject({
      migration: 'presence-stale@1',
      dryRun: false,
      status: 'succeeded',
      env: 'production',
      params: { minutes: 60 },
      confirmation: { by: 'expected-count', expected: 7 },
      result: { written: 7, failed: 0 },
    });
  });

  it('reports every step with --verbose', async () => {
    const result = await daily(['--verbose', '--minutes', '1']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/ok {4}stale dry run: 12 online user\(s\) inactive > 1 min/);
    expect(result.stdout).toMatch(/ok {4}stale: 12 written/);
    expect(result.stdout).toMatch(/ok {4}test: every health check passed/);
    expect(result.stdout).toMatch(/^summary: /m);
    expect(await onlineCount(database.db())).toBe(0);
  });

  it('a failed health check: non-zero, with what happened and why on stderr (the stale run still done)', async () => {
    await seedUsers(database.db(), { active: 2, stale: 3, offline: 4, index: false });
    const result = await daily();
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^ok {4}stale dry run: 3 online user\(s\) inactive > 60 min/m);
    expect(result.stderr).toMatch(/^ok {4}stale: 3 written/m);
    expect(result.stderr).toMatch(/^FAIL {2}test: health check failed: indexes: missing presence index/m);
    expect(result.stderr).toMatch(/^daily-maintenance: FAILED: test: health check failed: indexes: /m);
    expect(await onlineCount(database.db())).toBe(2);
  });

  it('outside the maintenance window: exit 4, nothing written, and the health check still reported', async () => {
    const before = await collectionChecksum(database.db(), 'users');
    const result = await daily(['--window', windowFromNow(180)]);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^FAIL {2}stale: outside the maintenance window/m);
    expect(result.stderr).toMatch(/^ok {4}test: every health check passed/m);
    expect(result.stderr).toMatch(/^daily-maintenance: FAILED: stale: outside the maintenance window/m);
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
    expect(await writingRuns(database.db())).toEqual([]);
  });

  it('inside the window runs and records it, with the --tolerance given', async () => {
    const open = windowFromNow(-30);
    const result = await daily(['--window', open, '--tolerance', '2']);
    expect(result.code, result.stderr).toBe(0);
    const [stale] = await writingRuns(database.db());
    expect(stale?.window).toEqual({ inside: true, windows: [open] });
    expect(stale?.confirmation).toEqual({ by: 'expected-count', expected: 7, tolerance: 2 });
  });

  it('refuses (exit 4) when the dry run plans more than --max, with nothing written', async () => {
    const before = await collectionChecksum(database.db(), 'users');
    const result = await daily(['--max', '6']);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/the dry run plans 7 user\(s\), more than --max 6: nothing written/);
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
    expect(await writingRuns(database.db())).toEqual([]);
  });

  it('an unreachable database: exit 3 and a summary', async () => {
    const result = await runRunbook('daily-maintenance', ['--uri', 'mongodb://127.0.0.1:1/nowhere'], { env });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^daily-maintenance: FAILED: stale dry run: cannot reach the database/m);
  });

  it('bad input is one line and exit 2', async () => {
    const noTarget = await runRunbook('daily-maintenance', [], { env });
    expect(noTarget).toMatchObject({ code: 2, stdout: '', stderr: 'daily-maintenance: no target: pass --uri <uri> or set MONGODB_URI\n' });
    const unknown = await daily(['--yes']);
    expect(unknown).toMatchObject({ code: 2, stderr: 'daily-maintenance: unknown option --yes (see --help)\n' });
    const badMinutes = await daily(['--minutes=an hour']);
    expect(badMinutes).toMatchObject({ code: 2, stderr: 'daily-maintenance: --minutes must be a whole number, got "an hour"\n' });
    expect(await auditOf(database.db())).toEqual([]);
  });
});
