import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { tempStateDir } from '../support/cli.ts';
import { connectUsers, offlineUsers, startPlatform } from '../support/socketio-platform.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import {
  auditOf,
  hasTerminalEmulation,
  onlineCount,
  runRunbook,
  runRunbookInTerminal,
  seedUsers,
  windowFromNow,
  writingRuns,
} from './runbook-process.ts';

const database = useTestDatabase('rb_ghosts');
let env: NodeJS.ProcessEnv;

function resolveGhosts(args: string[]) {
  return runRunbook('resolve-ghost-statuses', ['--uri', database.uri(), '--env', 'production', ...args], { env });
}

beforeEach(async () => {
  env = { PRESENCE_STATE_DIR: tempStateDir() };
  await seedUsers(database.db(), { active: 4, stale: 8, offline: 18 });
});

describe('resolve-ghost-statuses', () => {
  it('with --yes: status, dry run, cleanup confirmed by the dry run count, health check, status; everyone offline and audited', async () => {
    const result = await resolveGhosts(['--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(await onlineCount(database.db())).toBe(0);

    const steps = result.stdout.split('\n').filter((line) => /^(ok|skip|FAIL) /.test(line)).map((line) => line.slice(6, line.indexOf(':')));
    expect(steps).toEqual(['status', 'cleanup dry run', 'confirm', 'cleanup', 'test', 'status']);
    expect(result.stdout).toMatch(/ok {4}status: 12 online of 30 user\(s\)/);
    expect(result.stdout).toMatch(/ok {4}status: 0 online of 30 user\(s\)/);

    const [dryRun, cleanup, ...more] = await auditOf(database.db());
    expect(more).toEqual([]);
    expect(dryRun).toMatchObject({ migration: 'presence-cleanup@1', dryRun: true, status: 'succeeded', env: 'production', plan: { count: 12 } });
    expect(cleanup).toMatchObject({
      migration: 'presence-cleanup@1',
      dryRun: false,
      status: 'succeeded',
      env: 'production',
      confirmation: { by: 'expected-count', expected: 12 },
      result: { planned: 12, written: 12, skipped: 0, failed: 0 },
    });
    expect(result.stdout).toContain(`summary: 12 ghost status(es) cleared in ${database.name} (production), run ${cleanup!._id}`);
    expect(result.stdout).toContain(`presence restore ${cleanup!._id}`);
  });

  it('without --yes and without a terminal, refuses at the confirmation (exit 4) with nothing written', async () => {
    const before = await collectionChecksum(database.db(), 'users');
    const result = await resolveGhosts([]);
    expect(result.code).toBe(4);
    expect(result.stderr.trim()).toBe(
      "resolve-ghost-statuses: stopped at confirm (exit 4): confirmation required: run this in a terminal, or pass --yes (the dry run's count is passed as --expect)",
    );
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
    expect(await writingRuns(database.db())).toEqual([]);
    expect(await auditOf(database.db(), { dryRun: true })).toHaveLength(1);
  });

  it('outside the maintenance window refuses (exit 4) before the cleanup, nothing written; the dry run records the window', async () => {
    const closed = windowFromNow(120);
    const before = await collectionChecksum(database.db(), 'users');
    const result = await resolveGhosts(['--yes', '--window', closed]);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/stopped at window \(exit 4\): outside the maintenance window/);
    expect(await collectionChecksum(database.db(), 'users')).toBe(before);
    expect(await writingRuns(database.db())).toEqual([]);
    const [dryRun] = await auditOf(database.db(), { dryRun: true });
    expect(dryRun?.window).toEqual({ inside: false, windows: [closed] });
  });

  it('outside the window with --outside-window runs, and the reason is audited (windows from the environment)', async () => {
    const closed = windowFromNow(120);
    env.PRESENCE_MAINTENANCE_WINDOWS = closed;
    const result = await resolveGhosts(['--yes', '--outside-window', 'ghosts block check-in (incident 4711)']);
    expect(result.code, result.stderr).toBe(0);
    expect(await onlineCount(database.db())).toBe(0);
    const [cleanup] = await writingRuns(database.db());
    expect(cleanup?.window).toEqual({ inside: false, windows: [closed], overrideReason: 'ghosts block check-in (incident 4711)' });
    expect(result.stdout).toMatch(/override: ghosts block check-in \(incident 4711\)/);
  });

  it('stops at the first failure: a failed health check (no presence index) is the last step run, exit 1', async () => {
    await seedUsers(database.db(), { stale: 3, offline: 2, index: false });
    const result = await resolveGhosts(['--yes']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/stopped at test \(exit 1\): health check failed: indexes: missing presence index/);
    const steps = result.stdout.split('\n').filter((line) => /^(ok|skip|FAIL) /.test(line));
    expect(steps.at(-1)).toMatch(/^ok {4}cleanup: 3 written/);
    expect(result.stdout).not.toContain('summary:');
  });

  it('with nobody online, skips the cleanup and writes nothing', async () => {
    await seedUsers(database.db(), { offline: 5 });
    const result = await resolveGhosts([]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/skip {2}cleanup: nobody is online/);
    expect(result.stdout).toContain(`summary: nothing to clear in ${database.name} (production)`);
    expect(await writingRuns(database.db())).toEqual([]);
  });

  it('presence settings from the environment apply to every step: status, the cleanup and the health check see one collection', async () => {
    const members = database.db().collection('members');
    await members.insertMany([
      { name: 'ada', isOnline: true, lastSeen: new Date() },
      { name: 'grace', isOnline: true, lastSeen: new Date() },
      { name: 'alan', isOnline: false, lastSeen: new Date() },
    ]);
    await members.createIndex({ isOnline: 1, lastSeen: 1 }, { name: 'presence_isOnline_lastSeen' });
    env.PRESENCE_COLLECTION = 'members';
    const users = await collectionChecksum(database.db(), 'users');
    const result = await resolveGhosts(['--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`ok    status: 2 online of 3 user(s) in ${database.name}.members`);
    expect(await members.countDocuments({ isOnline: true })).toBe(0);
    expect(await collectionChecksum(database.db(), 'users')).toBe(users);
    const [cleanup] = await writingRuns(database.db());
    expect(cleanup).toMatchObject({ params: { collection: 'members' }, plan: { collection: 'members', count: 2 } });
  });

  it('bad input is one line and exit 2, before anything runs', async () => {
    const noTarget = await runRunbook('resolve-ghost-statuses', ['--yes'], { env });
    expect(noTarget).toMatchObject({ code: 2, stdout: '', stderr: 'resolve-ghost-statuses: no target: pass --uri <uri> or set MONGODB_URI\n' });
    const unknown = await resolveGhosts(['--force']);
    expect(unknown).toMatchObject({ code: 2, stdout: '', stderr: 'resolve-ghost-statuses: unknown option --force (see --help)\n' });
    const badEnv = await resolveGhosts(['--env', 'prod']);
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toMatch(/^resolve-ghost-statuses: --env must be one of development, staging, production, got "prod"\n$/);
    expect(await auditOf(database.db())).toEqual([]);
  });

  describe.skipIf(!hasTerminalEmulation())('in a terminal', () => {
    const prompt = /Type the database name \(\S+\) to go on: /;

    it('asks for the database name and runs the cleanup once it is typed', async () => {
      const result = await runRunbookInTerminal('resolve-ghost-statuses', ['--uri', database.uri(), '--env', 'production'], {
        prompt,
        answer: database.name,
        env,
      });
      expect(result.code, result.stdout).toBe(0);
      expect(result.stdout).toContain(`This sets 12 user(s) offline in ${database.name} (production).`);
      expect(result.stdout).toMatch(/ok {4}confirm: typed database name; the cleanup must plan 12 \(--expect\)/);
      expect(await onlineCount(database.db())).toBe(0);
      const [cleanup] = await writingRuns(database.db());
      expect(cleanup).toMatchObject({ status: 'succeeded', confirmation: { by: 'expected-count', expected: 12 } });
    });

    it('refuses (exit 4) when another name is typed, with nothing written', async () => {
      const before = await collectionChecksum(database.db(), 'users');
      const result = await runRunbookInTerminal('resolve-ghost-statuses', ['--uri', database.uri(), '--env', 'production'], {
        prompt,
        answer: 'yes',
        env,
      });
      expect(result.code).toBe(4);
      expect(result.stdout).toMatch(/stopped at confirm \(exit 4\): confirmation did not match the database name: nothing written/);
      expect(await collectionChecksum(database.db(), 'users')).toBe(before);
      expect(await writingRuns(database.db())).toEqual([]);
    });

    it('refuses the cleanup (exit 4), nothing written, when users came online while the operator was deciding (--expect)', async () => {
      const result = await runRunbookInTerminal('resolve-ghost-statuses', ['--uri', database.uri(), '--env', 'production'], {
        prompt,
        answer: database.name,
        env,
        beforeAnswer: async () => {
          await database.db().collection<{ _id: string }>('users').updateMany({ _id: { $in: ['offline-0', 'offline-1'] } }, { $set: { isOnline: true } });
        },
      });
      const afterComeback = await collectionChecksum(database.db(), 'users');
      expect(result.code).toBe(4);
      expect(result.stdout).toMatch(/stopped at cleanup \(exit 4\): the plan counts 14 document\(s\), the operator expected 12: nothing written \(--expect\)/);
      expect(await onlineCount(database.db())).toBe(14);
      expect(await collectionChecksum(database.db(), 'users')).toBe(afterComeback);
      const [refused, ...none] = await writingRuns(database.db());
      expect(none).toEqual([]);
      expect(refused).toMatchObject({ status: 'refused', error: { step: 'confirm' }, plan: { count: 14 } });
    });
  });
});

describe('resolve-ghost-statuses with a connected-set source', () => {
  it('reconciles instead of cleaning up, says so, and leaves the connected users online', async () => {
    await seedUsers(database.db(), { stale: 3 });
    const connected = offlineUsers(2);
    await database.db().collection('users').insertMany(connected);
    const token = randomBytes(24).toString('base64url');
    env.PRESENCE_CONNECTED_TOKEN = token;
    const node = await startPlatform({ mongoUri: database.uri(), token });
    const clients = await connectUsers(node, connected.map((user) => user._id.toHexString()));
    try {
      const result = await resolveGhosts(['--yes', '--connected', node.endpointUrl]);
      expect(result.code, result.stderr).toBe(0);
      const steps = result.stdout.split('\n').filter((line) => /^(ok|skip|FAIL) /.test(line)).map((line) => line.slice(6, line.indexOf(':')));
      expect(steps).toEqual(['status', 'reconcile dry run', 'confirm', 'reconcile', 'test', 'status']);
      expect(result.stdout).toContain('a connected-set source is configured: reconcile sets offline only the ghosts');
      const online = await database.db().collection('users').find({ isOnline: true }).toArray();
      expect(online.map((user) => String(user._id)).sort()).toEqual(connected.map((user) => user._id.toHexString()).sort());
      const [reconcile, ...more] = await writingRuns(database.db());
      expect(more).toEqual([]);
      expect(reconcile).toMatchObject({ migration: 'presence-reconcile@1', result: { planned: 3, written: 3 } });
      expect(result.stdout + result.stderr).not.toContain(token);
    } finally {
      for (const client of clients) client.socket.close();
      await node.stop();
    }
  });

  it('says it falls back to cleanup when no source is configured', async () => {
    const result = await resolveGhosts(['--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('no connected-set source configured: cleanup sets offline everyone shown online');
  });
});
