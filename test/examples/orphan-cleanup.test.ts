import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EJSON } from 'bson';
import type { Document } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { outcomeOf, type RestoreRecord, type RunRecord, type TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { startDashboardProcess, type DashboardProcess } from '../support/dashboard.ts';
import { until } from '../support/until.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';

const database = useTestDatabase('example_orphans');
const env = { PRESENCE_LOCK_TTL_MS: '2000' };
let stateDir: string;

/** The example as a user keeps it: a bare directory of their own, no node_modules, only the CLI. */
const tasksDir = mkdtempSync(join(tmpdir(), 'my-tasks-'));
writeFileSync(join(tasksDir, 'package.json'), JSON.stringify({ type: 'module' }));
copyFileSync(join(REPO, 'examples', 'tasks', 'orphan-cleanup.ts'), join(tasksDir, 'orphan-cleanup.ts'));

const presence = (...args: string[]) =>
  runCli([...args, '--uri', database.uri(), '--tasks-dir', tasksDir, '--state-dir', stateDir], { env, timeoutMs: 120_000 });
/** The commands that read the target's runs, with no task to load. */
const target = (...args: string[]) => runCli([...args, '--uri', database.uri()], { env });

/** Teams 1 and 2 exist; 7 and 8 were deleted, leaving 12 memberships and 9 users behind. */
const ORPHANED_MEMBERSHIPS = 12;
const ORPHANED_USERS = 9;
async function seed(): Promise<void> {
  const db = database.db();
  await db.dropDatabase();
  await db.collection('teams').insertMany([{ _id: 1, name: 'ops' }, { _id: 2, name: 'design' }] as never);
  const memberships = Array.from({ length: 20 }, (_, n) => ({ _id: `m${String(n).padStart(2, '0')}`, teamId: n < ORPHANED_MEMBERSHIPS ? 7 + (n % 2) : 1 + (n % 2), role: n % 3 === 0 ? 'admin' : 'member', since: new Date(Date.UTC(2024, 0, 1 + n)) }));
  await db.collection('memberships').insertMany(memberships as never);
  const users = Array.from({ length: 15 }, (_, n) => ({ _id: `u${String(n).padStart(2, '0')}`, name: `user ${n}`, teamId: n < ORPHANED_USERS ? 7 + (n % 2) : 2, profile: { locale: 'en' } }));
  await db.collection('users').insertMany(users as never);
}

/** Every collection the run touches, field order and types included. */
async function snapshot(): Promise<string> {
  const db = database.db();
  const all: Record<string, Document[]> = {};
  for (const name of ['teams', 'memberships', 'users']) all[name] = await db.collection(name).find({}, { sort: { _id: 1 } }).toArray();
  return EJSON.stringify(all, { relaxed: false });
}

/** Values whatever the order of fields: an unset field put back by a restore comes at the end of its document. */
async function values(): Promise<string> {
  const db = database.db();
  const sorted = (document: Document) => Object.fromEntries(Object.keys(document).sort().map((key) => [key, document[key]]));
  const all: Record<string, Document[]> = {};
  for (const name of ['teams', 'memberships', 'users']) all[name] = (await db.collection(name).find({}, { sort: { _id: 1 } }).toArray()).map(sorted);
  return EJSON.stringify(all, { relaxed: false });
}

const runs = () => database.db().collection<RunRecord>('maintenance_runs');

beforeEach(async () => {
  stateDir = tempStateDir();
  await seed();
});

describe('examples/tasks/orphan-cleanup.ts: two steps in one run, from a bare directory', () => {
  let webhook: WebhookReceiver;
  let dashboard: DashboardProcess | undefined;
  beforeAll(async () => {
    webhook = await startWebhookReceiver('ok');
  });
  afterAll(async () => {
    await webhook?.close();
    await dashboard?.stop();
  });

  it('dry run: both steps planned with their samples, in order, nothing written', async () => {
    const before = await snapshot();
    const dry = await presence('run', 'orphan-cleanup', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/step 1 of 2 · delete memberships where/);
    expect(dry.stdout).toMatch(/step 2 of 2 · update users where/);
    expect(dry.stdout).toMatch(/21 document\(s\) in 2 steps/);
    const json = await presence('run', 'orphan-cleanup', '--dry-run', '--json');
    const record = parseJson<TaskRunRecord>(json.stdout);
    expect(record.steps?.map((step) => outcomeOf(step.plan))).toMatchObject([
      { kind: 'delete', collection: 'memberships', count: ORPHANED_MEMBERSHIPS, step: { index: 1, of: 2 } },
      { kind: 'update', collection: 'users', count: ORPHANED_USERS, fields: ['teamId'], step: { index: 2, of: 2 } },
    ]);
    expect(EJSON.parse(outcomeOf(record.steps![0]!.plan)!.sample!)).toHaveLength(5);
    expect(await snapshot()).toBe(before);
  });

  it('runs both steps under one run id and tells it step by step: output, history, notifications, the dashboard; one restore undoes both', async () => {
    const before = await values();
    const run = await presence('run', 'orphan-cleanup', '--notify', webhook.url('/hooks/orphans'));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`step 1 of 2 · delete memberships: ${ORPHANED_MEMBERSHIPS} written, 0 skipped`));
    expect(run.stdout).toMatch(new RegExp(`step 2 of 2 · update users: ${ORPHANED_USERS} written, 0 skipped`));
    const runId = /undo with: presence restore (\S+)/.exec(run.stdout)![1]!;
    const db = database.db();
    expect(await db.collection('memberships').countDocuments()).toBe(20 - ORPHANED_MEMBERSHIPS);
    expect(await db.collection('users').countDocuments({ teamId: { $exists: true } })).toBe(15 - ORPHANED_USERS);

    const record = (await runs().findOne({ _id: runId })) as TaskRunRecord;
    expect(record.result).toMatchObject({ planned: 21, written: 21 });
    expect(record.steps?.map((step) => outcomeOf(step.result)?.written)).toEqual([ORPHANED_MEMBERSHIPS, ORPHANED_USERS]);
    expect(record.steps?.map((step) => outcomeOf(step.verify)?.inTargetState)).toEqual([ORPHANED_MEMBERSHIPS, ORPHANED_USERS]);

    const history = await target('history');
    expect(history.stdout).toMatch(/21 written, 0 skipped \(2 steps\)/);

    const events = webhook.received.map((request) => JSON.parse(request.body) as { event: string; runId: string; text: string; steps?: unknown[] });
    const succeeded = events.find((event) => event.runId === runId && event.event === 'succeeded');
    expect(succeeded?.steps).toEqual([
      { step: 'step 1 of 2', what: 'delete memberships', counts: `${ORPHANED_MEMBERSHIPS} written, 0 skipped (changed since plan), 0 failed` },
      { step: 'step 2 of 2', what: 'update users', counts: `${ORPHANED_USERS} written, 0 skipped (changed since plan), 0 failed` },
    ]);
    expect(succeeded?.text).toMatch(/step 2 of 2 · update users: 9 written/);

    // The dashboard is presence's too: pointed at an empty users collection, it shows the runs all the same.
    await database.db().createCollection('people');
    dashboard = await startDashboardProcess(['--uri', database.uri(), '--collection', 'people'], env);
    const page = await (await fetch(`${dashboard.url}/runs/${runId}`)).text();
    expect(page).toMatch(/<h2>Plan steps<\/h2>/);
    expect(page).toMatch(/<td>step 1 of 2<\/td><td>delete memberships<\/td><td>12<\/td><td>12 written/);
    expect(page).toMatch(/<td>step 2 of 2<\/td><td>update users<\/td><td>9<\/td><td>9 written/);

    const restored = await presence('restore', runId, '--json');
    expect(restored.code, restored.stderr).toBe(0);
    const restore = parseJson<RestoreRecord>(restored.stdout);
    expect(restore.restore).toMatchObject({ planned: 21, restored: 21, conflicts: 0 });
    // The users first (step 2), then the memberships (step 1).
    expect(restore.steps?.map((step) => outcomeOf(step.plan)?.collection)).toEqual(['users', 'memberships']);
    expect(await values()).toBe(before);
  });

  it('kill -9 during the second step, then resume: both collections end as one uninterrupted run leaves them', async () => {
    const whole = await presence('run', 'orphan-cleanup', '--batch-size', '2');
    expect(whole.code, whole.stderr).toBe(0);
    const expected = await snapshot();
    await seed();

    let child: ChildProcess | undefined;
    const killed = runCli(['run', 'orphan-cleanup', '--uri', database.uri(), '--tasks-dir', tasksDir, '--state-dir', stateDir, '--batch-size', '2', '--rate', '4'], {
      env,
      timeoutMs: 120_000,
      onStdout: (_text, process) => (child = process),
    });
    let runId: string | undefined;
    // Past the 12 memberships: the run is in its second step.
    await until('the run writes its second step', async () => {
      const record = await runs().findOne({ status: 'running', 'progress.checkpoint.entries': { $gte: ORPHANED_MEMBERSHIPS + 2 } });
      runId = record?._id;
      return runId !== undefined;
    }, { withinMs: 90_000 });
    child!.kill('SIGKILL');
    expect((await killed).signal).toBe('SIGKILL');
    const listed = await target('runs');
    expect(listed.stdout).toMatch(/step 2 of 2/);

    const resumed = await presence('resume', runId!, '--batch-size', '2', '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    const continuation = parseJson<TaskRunRecord>(resumed.stdout);
    expect(continuation.status).toBe('succeeded');
    expect(continuation.result).toMatchObject({ planned: 21, written: 21, skipped: 0, remaining: 0 });
    expect(continuation.steps?.map((step) => outcomeOf(step.result)?.written)).toEqual([ORPHANED_MEMBERSHIPS, ORPHANED_USERS]);
    expect(await snapshot()).toBe(expected);
  });
});
