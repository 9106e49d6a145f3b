import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, runCli, tempStateDir, type CliResult } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { reachedStep } from '../support/records.ts';
import { until } from '../support/until.ts';
import { lockOf } from '../faults/faults.ts';
import { startWebhookReceiver } from '../support/webhook-receiver.ts';
import { buildUsers } from '../support/users.ts';

/** A run stops itself at its window's end and at `--max-runtime`, interrupted with its counts, and is resumed after. */
const database = useTestDatabase('limits');
const STALE = 40;
let stateDir: string;

beforeEach(async () => {
  stateDir = tempStateDir();
  await database.db().dropDatabase();
  const users = buildUsers(new Date(), [{ count: STALE, online: () => true, minutesAgo: (n) => 120 + n / 60 }]);
  await database.db().collection('users').insertMany(users);
});

/** A `stale` run of 4 users a second in batches of 2: about ten seconds of writes. */
function slowRun(...args: string[]): Promise<CliResult> {
  return runCli(
    ['stale', '--minutes', '30', '--uri', database.uri(), '--state-dir', stateDir, '--rate', '4', '--batch-size', '2', '--json', ...args],
    { timeoutMs: 120_000 },
  );
}

function resume(runId: string, ...args: string[]): Promise<CliResult> {
  return runCli(['resume', runId, '--uri', database.uri(), '--state-dir', stateDir, '--json', ...args], { timeoutMs: 120_000 });
}

const offline = () => database.db().collection('users').countDocuments({ isOnline: false });
const runs = () => database.db().collection<RunRecord>('maintenance_runs');

/** `HH:MM:SS` in UTC, `seconds` from now. */
function utcClock(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString().slice(11, 19);
}

/** The run's record as printed, and its stored copy (with real dates). */
async function expectStoppedWithCounts(result: CliResult, limit: string): Promise<{ record: TaskRunRecord; stored: RunRecord }> {
  expect(result.code, result.stderr).toBe(1);
  const record = parseJson<TaskRunRecord>(result.stdout);
  expect(record.status).toBe('interrupted');
  expect(record.stoppedBy?.limit).toBe(limit);
  expect(record.error?.message).toBe(record.stoppedBy?.message);
  expect(record.notices).toContain(record.stoppedBy?.message);
  const counts = reachedStep('apply', record.result);
  expect(counts.written).toBeGreaterThan(0);
  expect(counts.written).toBeLessThan(STALE);
  expect(counts.remaining).toBe(STALE - counts.written);
  // Nothing was written but what the record counts: the batch under way when the limit came, and none after.
  expect(await offline()).toBe(counts.written);
  const stored = await runs().findOne({ _id: record._id });
  expect(stored).toMatchObject({ status: 'interrupted', stoppedBy: { limit } });
  return { record, stored: stored! };
}

describe('a run stops at its limits, interrupted and resumable', () => {
  it("pauses at its maintenance window's end, writing nothing with its lock kept, and goes on when the next opens", async () => {
    // The first window closes a few seconds into the run's writes, the next opens four seconds later.
    const windows = `${utcClock(-60)}-${utcClock(4)} UTC, ${utcClock(8)}-${utcClock(90)} UTC`;
    const webhook = await startWebhookReceiver('ok');
    const running = slowRun('--window', windows.split(', ')[0]!, '--window', windows.split(', ')[1]!, '--notify', webhook.url('/hook'));
    let runId: string | undefined;
    await until('the run is paused at its window\'s end', async () => {
      runId = (await runs().findOne({ status: 'paused' }))?._id;
      return runId !== undefined;
    });
    const before = await offline();
    await sleep(2000);
    expect(await offline()).toBe(before);
    expect(await runs().findOne({ _id: runId })).toMatchObject({ status: 'paused', progress: { state: 'paused' } });
    expect((await lockOf(database.db()))?.runId).toBe(runId);

    const run = await running;
    expect(run.code, run.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(run.stdout);
    expect(record.status).toBe('succeeded');
    expect(record.stoppedBy).toBeUndefined();
    expect(record.notices.join('\n')).toMatch(/window .* ended: paused[\s\S]*a maintenance window opened: writing again/);
    const stored = await runs().findOne({ _id: runId });
    expect(stored?.windowPauses).toHaveLength(1);
    expect(stored!.windowPauses![0]!.resumedAt!.getTime() - stored!.windowPauses![0]!.pausedAt.getTime()).toBeGreaterThanOrEqual(2000);
    expect(await offline()).toBe(STALE);
    // The pause and the resume reach the notifications through the run's statusChanged hook, in order.
    expect(webhook.received.map((request) => (JSON.parse(request.body) as { event: string }).event)).toEqual(['started', 'paused', 'resumed', 'succeeded']);
    await webhook.close();
  }, 120_000);

  it('--max-runtime ends a run waiting for its window, interrupted and resumable', async () => {
    const run = await slowRun('--window', `${utcClock(-60)}-${utcClock(3)} UTC`, '--max-runtime', '7s');
    const { stored } = await expectStoppedWithCounts(run, 'max-runtime');
    expect(stored.windowPauses).toHaveLength(1);
    expect(stored.windowPauses![0]!.resumedAt).toBeUndefined();
  }, 60_000);

  it("with --at-window-end stop, stops at its window's end, and is resumed in the next window only", async () => {
    // Opened a minute ago, closing a few seconds into the run's writes.
    const window = `${utcClock(-60)}-${utcClock(5)} UTC`;
    const started = Date.now();
    const run = await slowRun('--window', window, '--at-window-end', 'stop');
    const { record, stored } = await expectStoppedWithCounts(run, 'window-ended');
    expect(record.window).toMatchObject({ inside: true, windows: [window] });
    expect(stored.stoppedBy!.at.getTime()).toBeGreaterThanOrEqual(started + 4000);
    expect(record.stoppedBy!.message).toMatch(/maintenance window .* ended/);

    const outside = await resume(record._id, '--window', window);
    expect(outside.code, outside.stderr).toBe(4);
    expect(await offline()).toBe(reachedStep('apply', record.result).written);

    // The next window: here, one open all day.
    const resumed = await resume(record._id, '--window', '00:00-24:00 UTC');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(parseJson<TaskRunRecord>(resumed.stdout)).toMatchObject({ status: 'succeeded', continues: { runId: record._id } });
    expect(await offline()).toBe(STALE);
  }, 120_000);

  it('a run outside the window on purpose (--outside-window) is not stopped by a window ending', async () => {
    const window = `${utcClock(-120)}-${utcClock(-60)} UTC`;
    const run = await runCli(
      ['stale', '--minutes', '30', '--uri', database.uri(), '--state-dir', stateDir, '--rate', '20', '--batch-size', '2', '--json', '--window', window, '--outside-window', 'incident 42'],
      { timeoutMs: 60_000 },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(parseJson<TaskRunRecord>(run.stdout).stoppedBy).toBeUndefined();
    expect(await offline()).toBe(STALE);
  }, 60_000);

  it('--max-runtime stops a slow run after that long, with its counts; resume completes it', async () => {
    const run = await slowRun('--max-runtime', '3s');
    const { record, stored } = await expectStoppedWithCounts(run, 'max-runtime');
    expect(record.maxRuntimeMs).toBe(3000);
    expect(record.stoppedBy!.message).toMatch(/maximum runtime \(3s\)/);
    expect(stored.stoppedBy!.at.getTime() - stored.startedAt.getTime()).toBeGreaterThanOrEqual(3000);

    const resumed = await resume(record._id);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await offline()).toBe(STALE);
  }, 120_000);

  it.each([['0s'], ['20'], ['5x'], ['-1m']])('--max-runtime %s is bad input: exit 2, nothing written', async (value) => {
    const result = await runCli(['stale', '--uri', database.uri(), '--state-dir', stateDir, `--max-runtime=${value}`]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/--max-runtime/);
    expect(await offline()).toBe(0);
    expect(await runs().countDocuments()).toBe(0);
  });

  it('an unknown --at-window-end is bad input: exit 2, nothing written', async () => {
    const result = await runCli(['stale', '--uri', database.uri(), '--state-dir', stateDir, '--at-window-end', 'wait']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/--at-window-end/);
    expect(await runs().countDocuments()).toBe(0);
  });

  it('a window with seconds out of range is bad input: exit 2', async () => {
    const result = await runCli(['stale', '--uri', database.uri(), '--state-dir', stateDir, '--window', '02:00:61-03:00 UTC']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/maintenance window/);
  });
});
