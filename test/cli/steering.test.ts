import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, runCli, tempStateDir, type CliResult } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { reachedStep } from '../support/records.ts';
import { until } from '../support/until.ts';
import { buildUsers } from '../support/users.ts';
import { startWebhookReceiver } from '../support/webhook-receiver.ts';
import { lockOf, oneCleanLine } from '../faults/faults.ts';

/**
 * A run steered from other processes, as from other hosts: each command is its own `presence` process that only
 * shares the target database with the runner.
 */
const database = useTestDatabase('steer');
const STALE = 40;
/** Short, so the heartbeat (a quarter of it) visibly moves the lock's expiry during a pause. */
const env = { PRESENCE_LOCK_TTL_MS: '2000' };
let stateDir: string;

beforeEach(async () => {
  stateDir = tempStateDir();
  await database.db().dropDatabase();
  const users = buildUsers(new Date(), [
    { count: STALE, online: () => true, minutesAgo: (n) => 120 + n / 60 },
    { count: 5, online: () => true, minutesAgo: () => 1 },
  ]);
  await database.db().collection('users').insertMany(users);
});

/** A `stale` run slowed by --rate: 4 users a second, in batches of 2, so about ten seconds of writes. */
function slowRun(...extra: string[]): Promise<CliResult> {
  return runCli(
    ['stale', '--minutes', '30', '--uri', database.uri(), '--state-dir', stateDir, '--rate', '4', '--batch-size', '2', '--json', ...extra],
    { env, timeoutMs: 120_000 },
  );
}

function presence(...args: string[]): Promise<CliResult> {
  return runCli([...args, '--uri', database.uri(), '--state-dir', tempStateDir()], { env });
}

const runs = () => database.db().collection<RunRecord>('maintenance_runs');
const offline = () => database.db().collection('users').countDocuments({ isOnline: false });

/** The id of the run once it is writing (its record carries progress). */
async function writingRun(): Promise<string> {
  let id: string | undefined;
  await until('the run is writing and its record shows progress', async () => {
    const record = await runs().findOne({ status: 'running', 'progress.done': { $gte: 4 } });
    id = record?._id;
    return id !== undefined;
  });
  return id!;
}

async function statusOf(runId: string): Promise<string | undefined> {
  return (await runs().findOne({ _id: runId }))?.status;
}

describe('steering a run from other processes', () => {
  it('pause: no write while paused, the lock kept alive; resume: the run completes', async () => {
    const running = slowRun();
    const runId = await writingRun();

    const paused = await presence('pause', runId);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(new RegExp(`pause of run ${runId} asked by \\S+@\\S+ at `));
    await until('the run is paused', async () => (await statusOf(runId)) === 'paused');

    const before = { offline: await offline(), lock: await lockOf(database.db()) };
    await sleep(3000);
    expect(await offline()).toBe(before.offline);
    const lock = await lockOf(database.db());
    expect(lock?.runId).toBe(runId);
    expect(lock!.expiresAt.getTime()).toBeGreaterThan(before.lock!.expiresAt.getTime() + 1000);
    const record = await runs().findOne({ _id: runId });
    expect(record?.status).toBe('paused');
    expect(record?.progress).toMatchObject({ state: 'paused', etaSeconds: null });
    expect(record?.progress?.done).toBe(before.offline);

    const again = await presence('pause', runId);
    expect(again.code).toBe(4);
    expect(oneCleanLine(again.stderr)).toBe(true);
    expect(again.stderr).toMatch(new RegExp(`cannot pause run ${runId}: it is paused`));

    const resumed = await presence('resume', runId);
    expect(resumed.code, resumed.stderr).toBe(0);
    const result = await running;
    expect(result.code, result.stderr).toBe(0);
    const ended = parseJson<TaskRunRecord>(result.stdout);
    expect(ended.status).toBe('succeeded');
    expect(reachedStep('apply', ended.result)).toMatchObject({ written: STALE, skipped: 0, remaining: 0 });
    expect(ended.notices).toContainEqual(expect.stringMatching(/^paused by \S+@\S+ at .*; writing nothing until resumed$/));
    expect(ended.notices).toContainEqual(expect.stringMatching(/^resumed by \S+@\S+ at /));
    const audited = await runs().findOne({ _id: runId });
    expect(audited?.requests?.map((request) => request.action)).toEqual(['pause', 'resume']);
    expect(audited?.requests?.[0]?.by).toMatch(/^\S+@\S+$/);
    expect(audited?.request).toBeNull();
    expect(await offline()).toBe(STALE);
  });

  it('cancel: the run stops after its batch, audited as cancelled with counts, and its backup restores', async () => {
    const pristine = await collectionChecksum(database.db(), 'users');
    const running = slowRun();
    const runId = await writingRun();

    const cancelled = await presence('cancel', runId);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    const result = await running;
    expect(result.code).toBe(1);
    const ended = parseJson<TaskRunRecord>(result.stdout);
    expect(ended.status).toBe('cancelled');
    expect(ended.error?.message).toMatch(/^cancelled by \S+@\S+ at /);
    const counts = reachedStep('apply', ended.result);
    expect(counts.written).toBeGreaterThan(0);
    expect(counts.remaining).toBeGreaterThan(0);
    expect(counts.written + counts.skipped + counts.failed + counts.remaining).toBe(STALE);
    expect(await offline()).toBe(counts.written);
    expect((await runs().findOne({ _id: runId }))?.status).toBe('cancelled');

    const restored = await runCli(['restore', runId, '--uri', database.uri(), '--state-dir', stateDir, '--json'], { env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await collectionChecksum(database.db(), 'users')).toBe(pristine);
  });

  it('progress is in the record and in `presence runs` on another process while the run writes', async () => {
    const running = slowRun();
    const runId = await writingRun();

    const listed = await presence('runs', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const [run] = parseJson<Array<{ runId: string; status: string; progress: NonNullable<RunRecord['progress']> }>>(listed.stdout);
    expect(run).toMatchObject({ runId, status: 'running', runnerAlive: true, progress: { step: 'apply', planned: STALE } });
    expect(run!.progress.done).toBeGreaterThan(0);
    expect(run!.progress.checkpoint.entries).toBe(run!.progress.done);
    expect(run!.progress.docsPerSecond).toBeGreaterThan(2);
    expect(run!.progress.docsPerSecond).toBeLessThan(8);
    // A loaded machine may slow a batch enough for the back-off to hold the run: then it has no ETA, and says why.
    if (run!.progress.state === 'throttled') {
      expect(run!.progress.etaSeconds).toBeNull();
    } else {
      expect(run!.progress.state).toBe('writing');
      expect(run!.progress.etaSeconds).toBeGreaterThan(0);
    }

    const table = await presence('runs');
    expect(table.stdout).toMatch(
      new RegExp(`${runId} .* running .* \\d+/${STALE} \\(\\d+%\\) · [\\d.]+ docs/s · (?:[\\d.]+ s left|throttled by back-off: no ETA)`),
    );

    // Written about once a second, not per batch (here two batches a second).
    const seen = new Set<number>();
    const watchUntil = Date.now() + 3000;
    while (Date.now() < watchUntil) {
      const at = (await runs().findOne({ _id: runId }))?.progress?.at.getTime();
      if (at !== undefined) seen.add(at);
      await sleep(50);
    }
    expect(seen.size).toBeGreaterThanOrEqual(2);
    expect(seen.size).toBeLessThanOrEqual(4);

    expect((await running).code).toBe(0);
    const after = await presence('runs');
    expect(after.stdout.trim()).toBe('no run is running or paused');
  });

  it('bad requests get one line and change nothing: an unknown run (2), resuming a running run, a finished run (4)', async () => {
    const unknown = await presence('pause', '20261201T000000Z-000000');
    expect(unknown.code).toBe(2);
    expect(oneCleanLine(unknown.stderr)).toBe(true);
    expect(unknown.stderr).toMatch(/no run 20261201T000000Z-000000 in this database/);

    const running = slowRun();
    const runId = await writingRun();
    const resume = await presence('resume', runId);
    expect(resume.code).toBe(4);
    expect(oneCleanLine(resume.stderr)).toBe(true);
    expect(resume.stderr).toMatch(/cannot resume run \S+: it is running \(only a paused run can be asked to resume\)/);
    expect((await runs().findOne({ _id: runId }))?.requests).toBeUndefined();

    expect((await running).code).toBe(0);
    for (const action of ['pause', 'resume', 'cancel']) {
      const late = await presence(action, runId);
      expect(late.code, action).toBe(4);
      expect(late.stderr).toMatch(new RegExp(`cannot ${action} run ${runId}: it is succeeded`));
    }
    expect((await runs().findOne({ _id: runId }))?.requests).toBeUndefined();
  });
});

describe('a steered run tells its --notify receivers', () => {
  it('started, paused, resumed and cancelled, in order, as another process pauses, resumes and cancels it', async () => {
    const webhook = await startWebhookReceiver('ok');
    try {
      const running = slowRun('--notify', webhook.url('/hooks/steering'));
      const runId = await writingRun();
      expect((await presence('pause', runId)).code).toBe(0);
      await until('the run is paused', async () => (await statusOf(runId)) === 'paused');
      expect((await presence('resume', runId)).code).toBe(0);
      await until('the run writes again', async () => (await statusOf(runId)) === 'running');
      expect((await presence('cancel', runId)).code).toBe(0);
      const result = await running;
      expect(result.code).toBe(1);
      const events = webhook.received.map((request) => (JSON.parse(request.body) as { event: string; runId: string }));
      expect(events.map((event) => event.event)).toEqual(['started', 'paused', 'resumed', 'cancelled']);
      expect(new Set(events.map((event) => event.runId))).toEqual(new Set([runId]));
    } finally {
      await webhook.close();
    }
  });

  it('the terminal still shows progress, rate and time left while notifications are on', async () => {
    const webhook = await startWebhookReceiver('ok');
    try {
      const result = await runCli(
        ['stale', '--minutes', '30', '--uri', database.uri(), '--state-dir', stateDir, '--rate', '8', '--batch-size', '2', '--notify', webhook.url('/hooks/plain')],
        { env, timeoutMs: 120_000 },
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/docs\/s · (\d+(\.\d+)? s left|ETA once the rate is known|done)/);
    } finally {
      await webhook.close();
    }
  });
});
