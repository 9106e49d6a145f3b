import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { EJSON } from 'bson';
import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/engine/run-record.ts';
import { parseJson, runCli, tempStateDir, type CliResult } from '../support/cli.ts';
import { startDashboardProcess } from '../support/dashboard.ts';
import { useTestDatabase } from '../support/database.ts';
import { presenceUsers } from './faults.ts';

/**
 * A password in the URI never leaves the process that was given it: not in
 * output, errors, audit records (database and local file), backups, metrics
 * or the schedule's claims. FerretDB takes PLAIN credentials from anyone,
 * which lets the tool really authenticate with one here.
 */
const database = useTestDatabase('secrets');
const USER = 'ops-admin';
const PASSWORD = `Pw/${randomBytes(6).toString('hex')}@:?#`;

/** Every form the secret could take on its way out. */
const SECRET_FORMS = [
  PASSWORD,
  encodeURIComponent(PASSWORD),
  `${USER}:${PASSWORD}`,
  `${USER}:${encodeURIComponent(PASSWORD)}`,
  Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
  Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64'),
  PASSWORD.slice(3, 15),
];

/** The suite's URI with the random password of this run set on it (nothing secret is ever in the source). */
function uriWithPassword(name: string, host = new URL(database.uri()).host): string {
  const uri = new URL(`mongodb://${host}/${name}?authMechanism=PLAIN&authSource=%24external`);
  uri.username = USER;
  uri.password = PASSWORD;
  return uri.toString();
}

/** Every file under a directory, with its mode and its readable text (gzip'd files unpacked). */
function filesUnder(dir: string): Array<{ path: string; mode: number; directory: boolean; text: string }> {
  const found: Array<{ path: string; mode: number; directory: boolean; text: string }> = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = statSync(path);
    if (info.isDirectory()) {
      found.push({ path, mode: info.mode & 0o777, directory: true, text: '' });
      found.push(...filesUnder(path));
    } else {
      const bytes = readFileSync(path);
      found.push({ path, mode: info.mode & 0o777, directory: false, text: (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8') });
    }
  }
  return found;
}

describe('secrets', () => {
  it('a password in the URI appears in no output, audit record, backup, metric or claim; files are owner-only', async () => {
    await database.db().collection('users').insertMany(presenceUsers(120, new Date()));
    const stateDir = tempStateDir();
    const uri = uriWithPassword(database.name);
    const env = { PRESENCE_STATE_DIR: stateDir, PRESENCE_LOCK_TTL_MS: '2000' };
    const outputs: Array<{ command: string; result: CliResult }> = [];
    const presence = async (...args: string[]) => {
      const result = await runCli(args, { env });
      outputs.push({ command: args.join(' '), result });
      return result;
    };

    // The demo's sequence, as an operator would type it against a database with a password.
    expect((await presence('status', '--uri', uri)).code).toBe(0);
    expect((await presence('status', '--json', '--uri', uri)).code).toBe(0);
    expect((await presence('status', '--format', 'prometheus', '--uri', uri)).code).toBe(0);
    expect((await presence('stale', '--dry-run', '--uri', uri)).code).toBe(0);
    const stale = await presence('stale', '--json', '--uri', uri);
    expect(stale.code, stale.stderr).toBe(0);
    expect((await presence('cleanup', '--uri', uri)).code).toBe(0);
    expect([0, 1]).toContain((await presence('test', '--uri', uri)).code);
    expect((await presence('history', '--uri', uri)).code).toBe(0);
    expect((await presence('restore', parseJson<RunRecord>(stale.stdout)._id, '--uri', uri)).code).toBe(0);
    expect((await presence('tasks', '--uri', uri)).code).toBe(0);
    expect((await presence('backups', 'list', '--json')).code).toBe(0);
    // One scheduled iteration, stopped: its log and its interval claim.
    const scheduled = runCli(['stale', '--scheduled', '--interval', '0.02', '--uri', uri], {
      env,
      onStdout: (text, child) => {
        if (/presence-stale@1: /.test(text)) child.kill('SIGTERM');
      },
    });
    outputs.push({ command: 'stale --scheduled', result: await scheduled });
    // The dashboard's every page and route, as a browser or a script reads them.
    const dashboard = await startDashboardProcess(['--uri', uri], env);
    const runId = parseJson<RunRecord>(stale.stdout)._id;
    for (const route of ['/', '/runs', `/runs/${runId}`, '/tasks', '/api/status', '/api/samples', '/api/runs', `/api/runs/${runId}`, '/nowhere']) {
      const response = await fetch(dashboard.url + route);
      outputs.push({ command: `dashboard GET ${route}`, result: { code: response.status, signal: null, stdout: await response.text(), stderr: '' } });
    }
    outputs.push({ command: 'dashboard', result: await dashboard.stop() });
    // Failures quote the target too: refused, unreachable, malformed, bad options.
    await database.db().collection('maintenance_locks').insertOne({
      _id: 'maintenance' as never,
      runId: 'holder',
      owner: 'other@host',
      acquiredAt: new Date(),
      expiresAt: new Date(Date.now() + 60_000),
    });
    expect((await presence('cleanup', '--uri', uri)).code).toBe(4);
    await database.db().collection('maintenance_locks').deleteMany({});
    expect((await presence('status', '--uri', uriWithPassword(database.name, '127.0.0.1:9'))).code).toBe(3);
    expect((await presence('stale', '--uri', uri.replace('authMechanism=PLAIN', 'authMechanism=SCRAM-SHA-256'))).code).toBe(3);
    expect((await presence('stale', '--uri', `${uri}&w=banana&tls=maybe`)).code).toBe(2);
    expect((await presence('history', '--uri', uri.replace('@127.0.0.1', '@'))).code).toBe(2);
    expect((await presence('status', '--uri', uri, '--collection', '$bad')).code).toBe(2);

    const written: Array<{ where: string; text: string }> = [];
    for (const { command, result } of outputs) {
      written.push({ where: `stdout of ${command}`, text: result.stdout }, { where: `stderr of ${command}`, text: result.stderr });
    }
    for (const { name } of await database.db().listCollections({}, { nameOnly: true }).toArray()) {
      const documents = await database.db().collection(name).find({}).toArray();
      written.push({ where: `collection ${name}`, text: EJSON.stringify(documents, { relaxed: false }) });
    }
    const files = filesUnder(stateDir);
    for (const file of files) written.push({ where: file.path, text: file.text });

    // The run, its backup and its audit really happened with these credentials.
    expect(files.some((file) => file.path.endsWith('manifest.json'))).toBe(true);
    expect(files.some((file) => file.path.endsWith('audit.jsonl'))).toBe(true);
    expect(outputs.find((output) => output.command.includes('prometheus'))?.result.stdout).toMatch(/^presence_/m);
    expect(written.map((entry) => entry.text).join('\n')).toContain('<credentials>');

    for (const { where, text } of written) {
      for (const secret of SECRET_FORMS) expect(text.includes(secret), `${where} holds the secret (${secret})`).toBe(false);
    }
    for (const file of files) {
      expect(file.mode.toString(8), `${file.path} is readable by its owner only`).toBe(file.directory ? '700' : '600');
    }
  }, 180_000);
});
