import { spawn } from 'node:child_process';
import { EJSON } from 'bson';
import type { Document } from 'mongodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { quote } from 'zx';
import type { RestoreRecord, RunRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, REPO, runCli, tempStateDir, type CliResult } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { ARCHIVE, COLLECTION, countGoing, FIXTURES, REMOVAL_KINDS, seedSessions, snapshot, type RemovalKind } from '../support/marked-documents.ts';
import { reachedStep } from '../support/records.ts';
import { startWebhookReceiver } from '../support/webhook-receiver.ts';
import { hasTerminalEmulation } from '../runbooks/runbook-process.ts';

/**
 * Every guarantee the CLI gives an update run, given by a purge (`delete` plan) and an archive (`archive` plan) too:
 * the dry run, --expect, maintenance windows, production confirmation, notifications, restore.
 */
const database = useTestDatabase('delarch');
const GOING = 12;
const STAYING = 5;
let stateDir: string;

beforeEach(async () => {
  stateDir = tempStateDir();
  await seedSessions(database.db(), GOING, STAYING);
});

function presence(kind: RemovalKind, args: string[], env: NodeJS.ProcessEnv = {}, json = true): Promise<CliResult> {
  return runCli(['run', kind.task, ...args, '--uri', database.uri(), '--tasks-dir', FIXTURES, ...(json ? ['--json'] : [])], {
    env: { PRESENCE_STATE_DIR: stateDir, ...env },
    timeoutMs: 90_000,
  });
}

/** Runs `work` and checks that neither the source nor the archive changed, and that no archive collection was made. */
async function nothingWritten<T>(work: () => Promise<T>): Promise<T> {
  const before = await snapshot(database.db());
  const result = await work();
  expect(await snapshot(database.db())).toEqual(before);
  expect(await database.db().listCollections({ name: ARCHIVE }).toArray()).toEqual([]);
  return result;
}

/** The documents of a collection, each as canonical EJSON (types and field order), in `_id` order. */
async function canonicalDocuments(collection: string, filter: Document = {}): Promise<string[]> {
  const documents = await database.db().collection(collection).find(filter, { sort: { _id: 1 }, promoteValues: false }).toArray();
  return documents.map((document) => EJSON.stringify(document, { relaxed: false }));
}

/** Where the run should have left the documents: the marked ones gone from the source, and in the archive for an archive. */
async function expectRemoved(kind: RemovalKind, going: readonly string[], staying: readonly string[]): Promise<void> {
  expect(await canonicalDocuments(COLLECTION)).toEqual(staying);
  expect(await canonicalDocuments(ARCHIVE)).toEqual(kind.kind === 'archive' ? going : []);
}

/** `HH:MM:SS` in UTC, `seconds` from now. */
function utcClock(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString().slice(11, 19);
}

/** A window of an hour that opens two hours from now (UTC): closed now. */
function closedWindow(): string {
  return `${utcClock(2 * 3600).slice(0, 5)}-${utcClock(3 * 3600).slice(0, 5)} UTC`;
}

/**
 * The CLI in a pseudo-terminal (util-linux `script`, 200 columns), as an operator at a keyboard: when the screen shows
 * the production question, `answer` is typed. Returns the output with the terminal's escapes taken out.
 */
function inTerminal(kind: RemovalKind, answer: string): Promise<CliResult & { screen: string; question?: string }> {
  const command = [process.execPath, 'bin/presence.js', 'run', kind.task, '--uri', database.uri(), '--tasks-dir', FIXTURES, '--env', 'production'];
  const child = spawn('script', ['-qec', `stty cols 200 rows 50; ${command.map((arg) => quote(arg)).join(' ')}`, '/dev/null'], {
    cwd: REPO,
    env: { ...process.env, MONGODB_URI: undefined, PRESENCE_ENV: undefined, PRESENCE_STATE_DIR: stateDir },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const clean = (text: string) => text.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, '').replace(/\r/g, '');
  return new Promise((done, fail) => {
    let stdout = '';
    let stderr = '';
    let question: string | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const asked = /This will .* in PRODUCTION\. Type the database name \(\S+\) to go on:/.exec(clean(stdout))?.[0];
      if (asked === undefined || question !== undefined) return;
      question = asked;
      child.stdin.write(`${answer}\r`);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      child.stdin.end();
      done({ code, signal, stdout, stderr, screen: clean(stdout), question });
    });
  });
}

describe.each(REMOVAL_KINDS)('a $kind plan ($task) through the CLI', (kind) => {
  it('the dry run writes nothing, and shows how many documents would go and a sample of them, in --json and to a person', async () => {
    const stored = await canonicalDocuments(COLLECTION, { goes: true });
    const dry = await nothingWritten(() => presence(kind, ['--dry-run']));
    expect(dry.code, dry.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(dry.stdout);
    expect(record).toMatchObject({ status: 'succeeded', dryRun: true, backup: { state: 'not-reached' }, result: { state: 'not-reached' } });
    const plan = reachedStep('plan', record.plan);
    expect(plan).toMatchObject({ kind: kind.kind, count: GOING, collection: COLLECTION });
    if (kind.kind === 'archive') expect(plan.into).toBe(`${database.name}.${ARCHIVE}`);
    // The sample: whole documents, each as stored (types and field order), taken from those that would go.
    const sample = EJSON.parse(plan.sample!, { relaxed: false }) as Array<{ _id: string; before: Document; after: Document }>;
    expect(sample.length).toBeGreaterThan(0);
    for (const entry of sample) {
      expect(entry.after).toEqual({});
      expect(stored).toContain(EJSON.stringify({ _id: entry._id, ...entry.before }, { relaxed: false }));
    }

    const shown = await nothingWritten(() => presence(kind, ['--dry-run'], {}, false));
    expect(shown.code, shown.stderr).toBe(0);
    const what = kind.kind === 'delete' ? 'to delete' : `to move to ${database.name}.${ARCHIVE}`;
    expect(shown.stdout).toContain(`${GOING} document(s) ${what} (each backed up whole)`);
    for (const entry of sample) expect(shown.stdout).toMatch(new RegExp(`_id "${entry._id}"  region: "\\w+", goes: true, `));
  });

  it('--expect: a count that does not match refuses with nothing written (exit 4); the matching count runs', async () => {
    const refused = await nothingWritten(() => presence(kind, ['--expect', String(GOING - 1)]));
    expect(refused.code).toBe(4);
    const refusal = parseJson<RunRecord>(refused.stdout);
    expect(refusal).toMatchObject({ status: 'refused', error: { step: 'confirm', rule: 'expected-count' } });
    expect(refusal.error?.message).toMatch(new RegExp(`the plan counts ${GOING} document\\(s\\), the operator expected ${GOING - 1}: nothing written`));

    const going = await canonicalDocuments(COLLECTION, { goes: true });
    const staying = await canonicalDocuments(COLLECTION, { goes: false });
    const ran = await presence(kind, ['--expect', String(GOING)]);
    expect(ran.code, ran.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(ran.stdout);
    expect(record).toMatchObject({ status: 'succeeded', confirmation: { by: 'expected-count', expected: GOING } });
    expect(reachedStep('apply', record.result)).toMatchObject({ planned: GOING, written: GOING, skipped: 0, failed: 0, remaining: 0 });
    await expectRemoved(kind, going, staying);
  });

  it('outside the maintenance window a run is refused with nothing written, a dry run is allowed and says so', async () => {
    const closed = closedWindow();
    const refused = await nothingWritten(() => presence(kind, ['--window', closed]));
    expect(refused.code).toBe(4);
    const refusal = parseJson<RunRecord>(refused.stdout);
    expect(refusal).toMatchObject({ status: 'refused', window: { inside: false, windows: [closed] }, error: { rule: 'maintenance-window' } });

    const dry = await nothingWritten(() => presence(kind, ['--dry-run', '--window', closed]));
    expect(dry.code, dry.stderr).toBe(0);
    expect(parseJson<RunRecord>(dry.stdout).notices.join(' ')).toMatch(/a real run now would be refused/);

    const inside = await presence(kind, ['--window', `${utcClock(-60)}-${utcClock(3600)} UTC`]);
    expect(inside.code, inside.stderr).toBe(0);
    expect(await countGoing(database.db())).toBe(0);
  });

  it('production: refused without the operator\'s word (exit 4, nothing written); runs with --yes and the --expect count of a dry run', async () => {
    const refused = await nothingWritten(() => presence(kind, ['--env', 'production']));
    expect(refused.code).toBe(4);
    expect(parseJson<RunRecord>(refused.stdout)).toMatchObject({ status: 'refused', env: 'production', error: { step: 'confirm', rule: 'production-confirmation' } });
    const onlyYes = await nothingWritten(() => presence(kind, ['--env', 'production', '--yes']));
    expect(onlyYes.code).toBe(4);

    const dry = parseJson<TaskRunRecord>((await presence(kind, ['--env', 'production', '--dry-run'])).stdout);
    const count = reachedStep('plan', dry.plan).count;
    expect(count).toBe(GOING);
    const ran = await presence(kind, ['--env', 'production', '--yes', '--expect', String(count)]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(parseJson<TaskRunRecord>(ran.stdout)).toMatchObject({ status: 'succeeded', confirmation: { by: 'expected-count', expected: GOING }, result: { written: GOING } });
    expect(await countGoing(database.db())).toBe(0);
  });

  it.skipIf(!hasTerminalEmulation())('production in a terminal: the question names the kind, the count and the collection; a wrong answer writes nothing, the database name runs', async () => {
    const wrong = await nothingWritten(() => inTerminal(kind, 'yes'));
    expect(wrong.question, wrong.screen).toBe(`This will ${kind.confirmation(GOING, database.name)} in PRODUCTION. Type the database name (${database.name}) to go on:`);
    expect(wrong.code).toBe(4);
    expect(wrong.screen).toContain('confirmation did not match the database name: nothing written');

    const typed = await inTerminal(kind, database.name);
    expect(typed.question, typed.screen).toContain(kind.confirmation(GOING, database.name));
    expect(typed.code, typed.screen).toBe(0);
    expect(typed.screen).toContain('confirmed by typing the database name');
    expect(await countGoing(database.db())).toBe(0);
  });

  it('notifies started, then succeeded with its counts', async () => {
    const webhook = await startWebhookReceiver('ok');
    try {
      const ran = await presence(kind, ['--notify', webhook.url('/hooks/removal')]);
      expect(ran.code, ran.stderr).toBe(0);
      const record = parseJson<TaskRunRecord>(ran.stdout);
      const bodies = webhook.received.map((request) => JSON.parse(request.body) as Record<string, any>);
      expect(bodies.map((body) => body.event)).toEqual(['started', 'succeeded']);
      expect(bodies[0]).toMatchObject({ runId: record._id, task: `${kind.task}@1`, status: 'running', counts: null });
      expect(bodies[1]).toMatchObject({
        runId: record._id,
        task: `${kind.task}@1`,
        status: 'succeeded',
        dryRun: false,
        counts: { planned: GOING, written: GOING, skipped: 0, failed: 0, remaining: 0 },
      });
      expect(bodies[1]!.text).toMatch(new RegExp(`: succeeded in .* ${GOING} written`));
    } finally {
      await webhook.close();
    }
  });

  it('restore gives both collections back byte for byte, and restoring twice changes nothing', async () => {
    const pristine = await snapshot(database.db());
    const going = await canonicalDocuments(COLLECTION, { goes: true });
    const staying = await canonicalDocuments(COLLECTION, { goes: false });
    const ran = await presence(kind, ['--batch-size', '5']);
    expect(ran.code, ran.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(ran.stdout);
    expect(reachedStep('verify', record.verify)).toMatchObject({ checked: GOING, inTargetState: GOING });
    await expectRemoved(kind, going, staying);

    const restored = await runCli(['restore', record._id, '--uri', database.uri(), '--json'], { env: { PRESENCE_STATE_DIR: stateDir } });
    expect(restored.code, restored.stderr).toBe(0);
    expect(reachedStep('restore', parseJson<RestoreRecord>(restored.stdout).restore)).toMatchObject({ planned: GOING, restored: GOING, conflicts: 0 });
    expect(await snapshot(database.db())).toEqual(pristine);

    const again = await runCli(['restore', record._id, '--uri', database.uri(), '--json'], { env: { PRESENCE_STATE_DIR: stateDir } });
    expect(again.code, again.stderr).toBe(0);
    expect(reachedStep('restore', parseJson<RestoreRecord>(again.stdout).restore)).toMatchObject({ restored: 0, alreadyRestored: GOING, conflicts: 0 });
    expect(await snapshot(database.db())).toEqual(pristine);
  });
});
