import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';

const database = useTestDatabase('badinput');
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
const stateDir = tempStateDir();

function presence(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(args, { env: { PRESENCE_STATE_DIR: stateDir, ...env } });
}

async function collectionsWritten(): Promise<string[]> {
  const collections = await database.db().listCollections({}, { nameOnly: true }).toArray();
  return collections.map((collection) => collection.name);
}

/** Accepts connections and never answers: a host that hangs. */
let blackhole: Server;
const sockets: Socket[] = [];
beforeAll(async () => {
  blackhole = createServer((socket) => sockets.push(socket));
  await new Promise<void>((done) => blackhole.listen(0, '127.0.0.1', done));
});
afterAll(() => {
  for (const socket of sockets) socket.destroy();
  blackhole.close();
});

describe('bad input gets one line, its exit code, and nothing written', () => {
  const cases: Array<[string, () => string[], number, RegExp]> = [
    ['an unknown task', () => ['run', 'no-such-task', '--uri', database.uri(), '--tasks-dir', FIXTURES], 2, /unknown task "no-such-task" \(known tasks: .*flag-users/],
    ['an invalid parameter', () => ['run', 'flag-users', '--param', 'holdMs=-5', '--uri', database.uri(), '--tasks-dir', FIXTURES], 2, /task flag-users: parameter "holdMs": /],
    ['an unknown parameter', () => ['run', 'flag-users', '--param', 'colour=red', '--uri', database.uri(), '--tasks-dir', FIXTURES], 2, /unknown parameter "colour" \(parameters: holdMs\)/],
    ['a parameter without a value', () => ['run', 'flag-users', '--param', 'holdMs', '--uri', database.uri()], 2, /expected key=value/],
    ['a malformed URI', () => ['run', 'flag-users', '--uri', 'postgres://u:hunter2@db/x', '--tasks-dir', FIXTURES], 2, /malformed MongoDB URI in --uri/],
    ['a URI without a database', () => ['history', '--uri', 'mongodb://127.0.0.1:1'], 2, /no database named/],
    ['a zero batch size', () => ['run', 'flag-users', '--batch-size', '0', '--uri', database.uri()], 2, /--batch-size must be between 1 and 100000/],
    ['a non-numeric rate', () => ['run', 'flag-users', '--rate', 'fast', '--uri', database.uri()], 2, /--rate must be a whole number/],
    ['an unknown option', () => ['run', 'flag-users', '--yolo'], 2, /unknown option '--yolo'/],
    ['--json, which the dashboard cannot honour', () => ['dashboard', '--json', '--port', '0', '--uri', database.uri()], 2, /^presence: unknown option '--json'/],
    ['an unknown command', () => ['frobnicate'], 2, /unknown command 'frobnicate'/],
    ['an unknown command asked for help', () => ['suspend', '--help'], 2, /^presence: unknown command 'suspend'$/m],
    ['an unknown command asked for help with -h', () => ['suspend', '-h'], 2, /^presence: unknown command 'suspend'$/m],
    ['an unknown command with a suggestion', () => ['statsu', '--help'], 2, /^presence: unknown command 'statsu' \(Did you mean status\?\)$/m],
    ['an unknown subcommand asked for help', () => ['backups', 'frob', '--help'], 2, /^presence: unknown command 'frob'/],
    ['a backup directory that cannot be written', () => ['run', 'flag-users', '--backup-dir', '/dev/null/backups', '--uri', database.uri(), '--tasks-dir', FIXTURES], 2, /backup directory \/dev\/null\/backups is not writable/],
    ['an unknown history status', () => ['history', '--status', 'great', '--uri', database.uri()], 2, /status must be one of running, succeeded/],
  ];

  it.each(cases)('%s', async (_name, args, exitCode, message) => {
    const result = await presence(args());
    expect(result.code).toBe(exitCode);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stderr).not.toContain('hunter2');
    expect(await collectionsWritten()).toEqual([]);
  });

  it.each([[['--help']], [['help']], [['status', '--help']], [['backups', '--help']]])('presence %j prints its help and exits 0', async (args) => {
    const result = await presence(args);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: presence/);
    expect(result.stderr).toBe('');
  });

  it('an unknown command prints no help, with or without --help', async () => {
    for (const args of [['suspend'], ['suspend', '--help']]) {
      const result = await presence(args);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
    }
  });

  it('an unreachable host fails within seconds with exit 3', async () => {
    const { port } = blackhole.address() as { port: number };
    const started = Date.now();
    const result = await presence(['run', 'flag-users', '--uri', `mongodb://127.0.0.1:${port}/x`, '--tasks-dir', FIXTURES]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^presence: cannot reach the database at mongodb:\/\/127\.0\.0\.1:\d+\/x/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('wrong credentials fail with exit 3 and never print the password', async () => {
    const uri = new URL(database.uri());
    uri.username = 'intruder';
    uri.password = 'hunter2';
    const result = await presence(['run', 'flag-users', '--uri', uri.toString(), '--tasks-dir', FIXTURES]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/authentication to mongodb:\/\/<credentials>@.* failed/);
    expect(result.stderr + result.stdout).not.toContain('hunter2');
    expect(await collectionsWritten()).toEqual([]);
  });

  it('MONGODB_URI is used when --uri is absent, and a malformed one is named as such', async () => {
    const result = await presence(['history'], { MONGODB_URI: 'not a uri' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/malformed MongoDB URI in MONGODB_URI/);
  });
});
