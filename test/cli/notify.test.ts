import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { until } from '../support/until.ts';
import { buildUsers } from '../support/users.ts';
import { startWebhookReceiver, type ReceiverBehaviour, type WebhookReceiver } from '../support/webhook-receiver.ts';

const database = useTestDatabase('notify');
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
const USER = 'ops-admin';
const PASSWORD = `Pw/${randomBytes(6).toString('hex')}@:?#`;
/** Where Slack carries its token, and Teams' connector its ids: the path is the secret. */
const SLACK_TOKEN = `T0${randomBytes(4).toString('hex')}/B0${randomBytes(4).toString('hex')}/${randomBytes(12).toString('hex')}`;
const SLACK_PATH = `/services/${SLACK_TOKEN}`;
const TEAMS_TOKEN = `${randomBytes(8).toString('hex')}@tenant/IncomingWebhook/${randomBytes(16).toString('hex')}`;
const TEAMS_PATH = `/webhookb2/${TEAMS_TOKEN}`;
const UNNORMALISED = 10;

let stateDir: string;
const receivers: WebhookReceiver[] = [];

async function receiver(behaviour: ReceiverBehaviour): Promise<WebhookReceiver> {
  const started = await startWebhookReceiver(behaviour);
  receivers.push(started);
  return started;
}

function presence(args: string[], env: NodeJS.ProcessEnv = {}, uri = database.uri()) {
  return runCli([...args, '--uri', uri, '--tasks-dir', FIXTURES, '--json'], { env: { PRESENCE_STATE_DIR: stateDir, ...env } });
}

/** The suite's URI with a password on it (FerretDB takes PLAIN credentials from anyone). */
function uriWithPassword(): string {
  const uri = new URL(`mongodb://${new URL(database.uri()).host}/${database.name}?authMechanism=PLAIN&authSource=%24external`);
  uri.username = USER;
  uri.password = PASSWORD;
  return uri.toString();
}

function bodies(from: WebhookReceiver): Array<Record<string, any>> {
  return from.received.map((request) => JSON.parse(request.body) as Record<string, any>);
}

function eventsOf(from: WebhookReceiver): string[] {
  return bodies(from).map((body) => body.event as string);
}

async function storedRecord(runId: string): Promise<TaskRunRecord> {
  const record = await database.db().collection<TaskRunRecord>('maintenance_runs').findOne({ _id: runId });
  expect(record, `audit record of ${runId}`).not.toBeNull();
  return record!;
}

/** A config file in the test's state directory; a string is written as is (broken JSON). */
function configFile(content: object | string): string {
  const path = join(stateDir, `config-${randomBytes(3).toString('hex')}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** A window that is closed now: it opens two hours from now (UTC) for an hour. */
function closedWindow(): string {
  const hour = (offset: number) => `${String((new Date().getUTCHours() + offset) % 24).padStart(2, '0')}:00`;
  return `${hour(2)}-${hour(3)} UTC`;
}

beforeEach(async () => {
  stateDir = tempStateDir();
  await database.db().dropDatabase();
  const users = buildUsers(new Date(), [
    { count: 30, name: (i) => `user${i}`, online: (i) => i % 2 === 0, minutesAgo: () => 5, extra: (i) => ({ email: i < UNNORMALISED ? `User${i}@Example.COM` : `user${i}@example.com` }) },
  ]);
  await database.db().collection('users').insertMany(users);
});

afterEach(async () => {
  await Promise.all(receivers.splice(0).map((started) => started.close()));
});

describe('notifications', () => {
  it('a run posts started then succeeded, with its counts, to every --notify receiver, in a body Slack and Teams accept', async () => {
    const slack = await receiver('ok');
    const teams = await receiver('ok');
    const result = await presence(['run', 'normalize-emails', '--notify', slack.url(SLACK_PATH), '--notify', teams.url(TEAMS_PATH)]);
    expect(result.code, result.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);

    for (const [webhook, path] of [[slack, SLACK_PATH], [teams, TEAMS_PATH]] as const) {
      expect(webhook.received.map((request) => [request.method, request.path, request.headers['content-type']])).toEqual([
        ['POST', path, 'application/json'],
        ['POST', path, 'application/json'],
      ]);
      expect(eventsOf(webhook)).toEqual(['started', 'succeeded']);
      const [started, succeeded] = bodies(webhook);
      // Slack's and Teams' connector: a JSON object with a non-empty `text`.
      expect(started!.text).toMatch(/normalize-emails@1 .*: started by /);
      expect(succeeded!.text).toMatch(/: succeeded in .* 10 written/);
      expect(succeeded).toMatchObject({
        runId: record._id,
        task: 'normalize-emails@1',
        status: 'succeeded',
        dryRun: false,
        target: { database: database.name },
        operator: record.operator,
        counts: { planned: UNNORMALISED, written: UNNORMALISED, skipped: 0, failed: 0, remaining: 0 },
      });
      expect(started).toMatchObject({ runId: record._id, status: 'running', counts: null });
    }

    const delivered = (await storedRecord(record._id)).notifications;
    expect(delivered).toHaveLength(4);
    expect(delivered!.every((delivery) => delivery.delivered && delivery.attempts === 1)).toBe(true);
    expect(delivered!.map((delivery) => delivery.receiver).sort()).toEqual([
      `#1 http://${new URL(slack.url('/')).host}/…`,
      `#1 http://${new URL(slack.url('/')).host}/…`,
      `#2 http://${new URL(teams.url('/')).host}/…`,
      `#2 http://${new URL(teams.url('/')).host}/…`,
    ]);
    expect(record.notifications).toEqual(delivered);
  });

  it('a refused run posts started then refused, naming the rule (PRESENCE_NOTIFY, comma-separated)', async () => {
    const first = await receiver('ok');
    const second = await receiver('ok');
    const result = await presence(['run', 'normalize-emails', '--window', closedWindow()], {
      PRESENCE_NOTIFY: `${first.url(SLACK_PATH)}, ${second.url(TEAMS_PATH)}`,
    });
    expect(result.code, result.stderr).toBe(4);
    for (const webhook of [first, second]) {
      expect(eventsOf(webhook)).toEqual(['started', 'refused']);
      expect(bodies(webhook)[1]).toMatchObject({ status: 'refused', error: { step: 'confirm', rule: 'maintenance-window' } });
      expect(bodies(webhook)[1]!.text).toMatch(/refused .*confirm: .*maintenance window/);
    }
    expect(await database.db().collection('users').countDocuments({ email: /[A-Z]/ })).toBe(UNNORMALISED);
  });

  it('a failed run posts started then failed, with the step and the error', async () => {
    await database.db().collection('users').updateOne({ name: 'user20' }, { $set: { boom: true } });
    const webhook = await receiver('ok');
    const result = await presence(['run', 'explode', '--notify', webhook.url(SLACK_PATH)]);
    expect(result.code, result.stderr).toBe(1);
    expect(eventsOf(webhook)).toEqual(['started', 'failed']);
    expect(bodies(webhook)[1]).toMatchObject({ status: 'failed', error: { message: expect.stringContaining('cannot handle user user20') } });
  });

  it('Ctrl-C during a run: started, then interrupted with the counts so far', async () => {
    const webhook = await receiver('ok');
    const child = spawn(
      process.execPath,
      [join(REPO, 'bin', 'presence.js'), 'run', 'normalize-emails', '--rate', '2', '--batch-size', '1', '--notify', webhook.url(SLACK_PATH), '--uri', database.uri(), '--json'],
      { env: { ...process.env, PRESENCE_STATE_DIR: stateDir }, stdio: 'ignore' },
    );
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    const users = database.db().collection('users');
    try {
      await until('the apply has written a first user', async () => (await users.countDocuments({ email: /[A-Z]/ })) < UNNORMALISED);
      child.kill('SIGINT');
    } finally {
      // Never left running past the test, whatever happened.
      setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
    }
    expect(await exited).toBe(1);
    expect(eventsOf(webhook)).toEqual(['started', 'interrupted']);
    const interrupted = bodies(webhook)[1]!;
    expect(interrupted).toMatchObject({ status: 'interrupted', counts: { planned: UNNORMALISED } });
    expect(interrupted.counts.remaining).toBeGreaterThan(0);
  });

  it('a receiver answering 500 is retried with back-off; the run succeeds, the other receiver gets every event', async () => {
    const failing = await receiver('fail');
    const working = await receiver('ok');
    const result = await presence(['run', 'normalize-emails', '--notify', failing.url(SLACK_PATH), '--notify', working.url(TEAMS_PATH)]);
    expect(result.code, result.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record.status).toBe('succeeded');
    expect(await database.db().collection('users').countDocuments({ email: /[A-Z]/ })).toBe(0);

    expect(eventsOf(failing)).toEqual(['started', 'started', 'started', 'succeeded', 'succeeded', 'succeeded']);
    const gaps = failing.received.slice(0, 3).map((request, i, all) => (i === 0 ? 0 : request.at - all[i - 1]!.at));
    expect(gaps[2]!).toBeGreaterThan(gaps[1]!);
    expect(eventsOf(working)).toEqual(['started', 'succeeded']);

    const stderr = result.stderr.trim().split('\n');
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(/^presence: 2 of 4 notifications not delivered: started to #1 .*HTTP 500 \(3 attempts\)/);
    const failed = (await storedRecord(record._id)).notifications!.filter((delivery) => !delivery.delivered);
    expect(failed).toEqual([
      { event: 'started', receiver: expect.stringMatching(/^#1 /), delivered: false, attempts: 3, error: 'HTTP 500' },
      { event: 'succeeded', receiver: expect.stringMatching(/^#1 /), delivered: false, attempts: 3, error: 'HTTP 500' },
    ]);
  });

  it('a receiver that never answers delays the end of a run by the flush cap at most, and is recorded as given up', async () => {
    const hanging = await receiver('hang');
    const result = await presence(['run', 'normalize-emails', '--notify', hanging.url(SLACK_PATH)]);
    const exitedAt = Date.now();
    expect(result.code, result.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    // From the run's end to the process's exit: the 3 s cap and an exit. Unbounded, the end's notification alone
    // would take 3 attempts of 5 s each. Measured from the run's end, not the spawn: a loaded machine starts a CLI
    // process slowly, which says nothing of the cap.
    const stored = await storedRecord(record._id);
    const endedAt = stored.endedAt!.getTime();
    expect(exitedAt - endedAt).toBeLessThan(9_000);
    // Nor does the start's notification hold the run (3 attempts of 5 s, were it waited for).
    expect(endedAt - stored.startedAt.getTime()).toBeLessThan(12_000);
    expect(eventsOf(hanging)[0]).toBe('started');
    expect(result.stderr).toMatch(/^presence: 2 of 2 notifications not delivered, 2 given up after 3 s at exit: /);
    expect(record.status).toBe('succeeded');
    expect(stored.notifications).toEqual([
      { event: 'started', receiver: expect.any(String), delivered: false, attempts: 1, error: 'given up at exit, still unanswered' },
      { event: 'succeeded', receiver: expect.any(String), delivered: false, attempts: 0, error: 'given up at exit, still unanswered' },
    ]);
  });

  it('the webhook token and the URI password are in no payload, output, run record or audit file', async () => {
    const failing = await receiver('fail');
    const working = await receiver('ok');
    const result = await presence(
      ['run', 'normalize-emails', '--notify', failing.url(SLACK_PATH), '--notify', working.url(TEAMS_PATH)],
      {},
      uriWithPassword(),
    );
    expect(result.code, result.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(result.stdout);
    const seen = [
      result.stdout,
      result.stderr,
      ...[...failing.received, ...working.received].map((request) => request.body + JSON.stringify(request.headers)),
      JSON.stringify(await storedRecord(record._id)),
      readFileSync(join(stateDir, 'audit.jsonl'), 'utf8'),
    ].join('\n');
    expect(seen).toContain('"event":"succeeded"');
    expect(seen).toContain('notifications');
    for (const secret of [SLACK_TOKEN, TEAMS_TOKEN, ...SLACK_TOKEN.split('/'), TEAMS_TOKEN.slice(0, 16), PASSWORD, encodeURIComponent(PASSWORD)]) {
      expect(seen).not.toContain(secret);
    }
  });

  it('the config file\'s "notify" list is used by every writing command (cleanup --config, a dry run)', async () => {
    const webhook = await receiver('ok');
    const config = join(stateDir, 'presence.json');
    writeFileSync(config, JSON.stringify({ collection: 'users', notify: [webhook.url(SLACK_PATH)] }));
    const result = await runCli(['cleanup', '--config', config, '--dry-run', '--uri', database.uri(), '--json'], { env: { PRESENCE_STATE_DIR: stateDir } });
    expect(result.code, result.stderr + result.stdout).toBe(0);
    expect(eventsOf(webhook)).toEqual(['started', 'succeeded']);
    expect(bodies(webhook)[1]).toMatchObject({ task: 'presence-cleanup@1', dryRun: true, status: 'succeeded' });
    expect(bodies(webhook)[1]!.text).toMatch(/presence-cleanup@1 \(dry run\)/);
  });

  it('a bad notification URL stops the command with one line, exit 2, without quoting it, and nothing is written', async () => {
    const webhook = await receiver('ok');
    const secret = `S3CRET${randomBytes(4).toString('hex')}`;
    const cases: Array<{ args: string[]; env?: NodeJS.ProcessEnv; says: RegExp }> = [
      { args: ['--notify', `hooks.slack.com/services/${secret}`], says: /^presence: --notify: not a URL/ },
      { args: ['--notify', webhook.url('/ok'), '--notify', `ftp://user:${secret}@host/x`], says: /^presence: --notify \(entry 2\): .*http or https/ },
      { args: [], env: { PRESENCE_NOTIFY: `${webhook.url('/ok')},${secret} here` }, says: /^presence: PRESENCE_NOTIFY \(entry 2\): not a URL/ },
      { args: [], env: { PRESENCE_CONFIG: configFile({ notify: `${webhook.url('/ok')}${secret}` }) }, says: /^presence: "notify" in .* must be a list of webhook URLs\n$/ },
      { args: [], env: { PRESENCE_CONFIG: configFile({ notify: [`mailto:${secret}@example.com`] }) }, says: /^presence: "notify" in .*: .*http or https, got mailto:\n$/ },
      { args: [], env: { PRESENCE_CONFIG: configFile(`{"notify": ${secret}}`) }, says: /^presence: presence config file .* is not valid JSON/ },
    ];
    for (const { args, env, says } of cases) {
      const result = await presence(['run', 'normalize-emails', ...args], env);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(says);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      // Not a piece of it either: V8's JSON error quotes ten characters around where it stopped.
      expect(result.stderr + result.stdout).not.toContain(secret.slice(0, 8));
    }
    expect(webhook.received).toEqual([]);
    expect(await database.db().collection('maintenance_runs').countDocuments()).toBe(0);
  });
});
