import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { REPO, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { oneCleanLine, presenceUsers } from './faults.ts';

/**
 * Property-based: arguments, environment and config files an operator (or a
 * script gone wrong) could hand the CLI, each with at least one thing that is
 * wrong. Whatever the mix, the CLI says what is wrong in one line on stderr,
 * with no stack trace, exits 2, and writes nothing anywhere. Most cases run
 * `main()` in this process (fast); a bounded sample runs the real binary.
 */
const database = useTestDatabase('hostile');
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
const IN_PROCESS_RUNS = Number(process.env.FAULT_PROPERTY_RUNS ?? 300);
const SPAWNED_RUNS = 16;
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 2 ** 31);
const stateDir = tempStateDir();
const configDir = mkdtempSync(join(tmpdir(), 'presence-hostile-config-'));
let configs = 0;

// ── values ────────────────────────────────────────────────────────────────
const SHELL = ['$(touch /tmp/pwned)', '`id`', '; rm -rf ~', '| cat /etc/passwd', '&& echo hi', "'", '"', '\\', '$HOME', '${PATH}', '>', '*', '~', '\n', '\r\n', '\t'];
const hostileText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(...SHELL),
  fc.tuple(fc.constantFrom(...SHELL), fc.string({ maxLength: 10 })).map(([a, b]) => a + b + a),
  fc.constantFrom('x'.repeat(100_000), 'é'.repeat(20_000), '🙂'.repeat(5000), ' ', '', '-', '--', '=', '-1', '0', '1e309', 'NaN', '0x10', ' 5 ', '5.5', '[]', '{}', 'null', 'true'),
  // A NUL cannot be passed in an argument or an environment variable at all.
).map((text) => text.replaceAll('\0', ''));
const notAnInteger = fc.oneof(
  hostileText.filter((text) => !/^\s*\d+\s*$/.test(text)),
  fc.constantFrom('-1', '1.5', '1e3', '99999999999999999999', '0'),
);

/** URIs that never leave this machine: the test database, a closed port, or malformed. */
const hostileUri = fc.oneof(
  fc.constant('DB'),
  hostileText.map((name) => `mongodb://127.0.0.1:9/${encodeURIComponent(name)}`),
  fc.constantFrom(
    'not a uri',
    'postgres://u:hunter2@127.0.0.1/x',
    'mongodb://',
    'mongodb://127.0.0.1:99999/x',
    'mongodb://127.0.0.1:9/x?w=banana&tls=maybe',
    'mongodb://127.0.0.1:9/a.b$c',
    'mongodb://127.0.0.1:9/',
    'mongodb://user@name@127.0.0.1:9/x',
    `mongodb://127.0.0.1:9/${'d'.repeat(100)}`,
  ),
);

// ── what is wrong: each is refused before anything connects ───────────────
/**
 * Who reads the wrong thing: any command (an option it does not know is
 * wrong too); presence commands (presence settings from env and config
 * files); writing commands (the target's environment and maintenance windows).
 */
type Scope = 'any' | 'presence' | 'writing';

interface Input {
  args: string[];
  env: Record<string, string>;
  scope: Scope;
}

const option = (name: string, value: fc.Arbitrary<string>) => value.map((text): Input => ({ args: [name, text], env: {}, scope: 'any' }));
const envVar = (name: string, value: fc.Arbitrary<string>, scope: Scope = 'presence') =>
  value.filter((text) => text.trim() !== '').map((text): Input => ({ args: [], env: { [name]: text }, scope }));
const configFile = (content: fc.Arbitrary<string>) =>
  content.map((text): Input => {
    const path = join(configDir, `config-${configs++}.json`);
    writeFileSync(path, text);
    return { args: ['--config', path], env: {}, scope: 'presence' };
  });

const wrong: fc.Arbitrary<Input> = fc.oneof(
  fc.stringMatching(/^[a-z]{1,12}$/).map((name): Input => ({ args: [`--zz-${name}`], env: {}, scope: 'any' })),
  option('--batch-size', notAnInteger),
  option('--rate', notAnInteger),
  option('--minutes', notAnInteger),
  option('--limit', notAnInteger),
  option('--max-lag', hostileText.filter((text) => !/^\s*\d+(\.\d+)?\s*$/.test(text))),
  option('--interval', fc.constantFrom('0', '-1', 'abc', '1e3', '1441', '0.001', '')),
  option('--env', hostileText.filter((text) => !['development', 'staging', 'production'].includes(text.trim().toLowerCase()))),
  option('--collection', fc.constantFrom('$users', 'system.users', '', 'c'.repeat(200))),
  option('--online-field', fc.constantFrom('a..b', '$online', '_id', '', 'presence.$online')),
  option('--last-seen-field', fc.constantFrom('.a', '$seen', '_id', '_id.seen')),
  option('--offline-set', fc.oneof(fc.constantFrom('{', '[]', '{"a":{"b":1}}', '{"$x":1}', '{"a..b":null}', '"x"', 'null'), hostileText.filter((text) => !text.trim().startsWith('{')))),
  option('--shard-key', fc.constantFrom('', 'a..b', '$region', 'region,region', 'user,user.region', 'region, userId', 'a\nb')),
  option('--window', fc.constantFrom('25:00-26:00 UTC', 'garbage', '02:00-05:00 Mars/Olympus', '02:00', '', '$(date)')),
  option('--format', hostileText.filter((text) => !['text', 'json', 'prometheus'].includes(text))),
  option('--status', hostileText.filter((text) => !['running', 'succeeded', 'failed', 'refused', 'interrupted'].includes(text))),
  option('--since', fc.constantFrom('yesterday', '-5d', '2026-13-45', '$(date)', '')),
  option('--older-than', fc.constantFrom('soon', '-1d', '', '5 years')),
  option('--uri', hostileUri.filter((uri) => uri !== 'DB' && !uri.startsWith('mongodb://127.0.0.1:9/') )),
  envVar('PRESENCE_ONLINE_FIELD', fc.constantFrom('a.', '$x', '_id', 'a.$b')),
  envVar('PRESENCE_STALE_MINUTES', notAnInteger),
  envVar('PRESENCE_OFFLINE_SET', fc.constantFrom('{', '[1]', '{"a":{"b":1}}')),
  envVar('PRESENCE_COLLECTION', fc.constantFrom('$x', 'system.profile')),
  envVar('PRESENCE_ENV', hostileText.filter((text) => !['development', 'staging', 'production'].includes(text.trim().toLowerCase())), 'writing'),
  envVar('PRESENCE_MAINTENANCE_WINDOWS', fc.constantFrom('garbage', '99:00-05:00 UTC', '02:00-05:00 Nowhere/City'), 'writing'),
  configFile(
    fc.oneof(
      hostileText.filter((text) => {
        try {
          const parsed: unknown = JSON.parse(text);
          return typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.keys(parsed).length > 0;
        } catch {
          return true;
        }
      }),
      fc.constantFrom('{"collection": 5}', '{"__proto__": {"collection": "x"}}', '{"onlineField": "a..b"}', '{"colour": "red"}', '[]', '{"offlineSet": "x"}', '{"staleMinutes": -1}'),
      fc.dictionary(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { minKeys: 1, maxKeys: 4 }).map((object) => JSON.stringify(object)),
    ),
  ),
);

/**
 * Harmless company for the wrong thing: valid options an operator might pass
 * along, none of which can override it (a later `--minutes 5` would fix a bad
 * one, and a flag wins over its environment variable).
 */
const noise = fc.array(
  fc.oneof(
    fc.constantFrom(['--json'], ['--dry-run'], ['--yes'], ['--force'], ['--scheduled']),
    hostileText.map((reason) => ['--outside-window', reason]),
    fc.integer({ min: 0, max: 50 }).map((n) => ['--expect', String(n)]),
    hostileText.map((text) => [text]),
  ),
  { maxLength: 3 },
);

const COMMANDS: Array<{ args: string[]; reads: Scope[] }> = [
  { args: ['status'], reads: ['any', 'presence'] },
  { args: ['cleanup'], reads: ['any', 'presence', 'writing'] },
  { args: ['stale'], reads: ['any', 'presence', 'writing'] },
  { args: ['test'], reads: ['any', 'presence'] },
  { args: ['run', 'flag-users', '--tasks-dir', FIXTURES], reads: ['any', 'writing'] },
  { args: ['restore', '20261125T000000Z-abcdef'], reads: ['any', 'writing'] },
  { args: ['history'], reads: ['any'] },
  { args: ['tasks'], reads: ['any'] },
];

const hostileCase = fc
  .record({ command: fc.constantFrom(...COMMANDS), wrong, noise, uri: hostileUri, withUri: fc.boolean() })
  .filter(({ command, wrong }) => command.reads.includes(wrong.scope))
  .map(({ command, wrong, noise, uri, withUri }) => {
    const args = [...command.args];
    // The wrong thing goes first so noise (an extra positional, say) cannot hide it behind another usage error, which is fine too.
    args.push(...wrong.args, ...noise.flat());
    if (withUri && !args.includes('--uri')) args.push('--uri', uri === 'DB' ? database.uri() : uri);
    else if (!args.includes('--uri')) args.push('--uri', database.uri());
    return { args, env: wrong.env };
  });

// ── running a case ─────────────────────────────────────────────────────────
const PRESENCE_VARIABLES = /^(PRESENCE_|MONGODB_URI$)/;

/** `main()` in this process, with its own environment, its output captured. */
async function inProcess(args: string[], env: Record<string, string>) {
  const saved = { ...process.env };
  for (const name of Object.keys(process.env)) if (PRESENCE_VARIABLES.test(name)) delete process.env[name];
  Object.assign(process.env, { PRESENCE_STATE_DIR: stateDir }, env);
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  const listeners = process.stdout.listeners('error');
  let stdout = '';
  let stderr = '';
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
    for (const listener of process.stdout.listeners('error')) {
      if (!listeners.includes(listener)) process.stdout.off('error', listener as (error: Error) => void);
    }
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
}

let pristine: string;
let collections: string[];
const collectionNames = async () => (await database.db().listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();

beforeAll(async () => {
  await database.db().collection('users').insertMany(presenceUsers(50, new Date()));
  pristine = await collectionChecksum(database.db(), 'users');
  collections = await collectionNames();
});

afterAll(() => console.log(`hostile input: seed ${SEED}, ${IN_PROCESS_RUNS} in-process cases, ${SPAWNED_RUNS} spawned`));

async function nothingWritten(): Promise<void> {
  expect(await collectionNames()).toEqual(collections);
  expect(await collectionChecksum(database.db(), 'users')).toBe(pristine);
  expect(readdirSync(stateDir)).toEqual([]);
}

function describeCase(args: string[], env: Record<string, string>): string {
  const short = (text: string) => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…(${text.length})` : text);
  return `presence ${args.map(short).join(' ')} ${Object.entries(env).map(([name, value]) => `${name}=${short(value)}`).join(' ')}`;
}

describe('hostile input', () => {
  it(`${IN_PROCESS_RUNS} random malformed command lines, environments and config files: one line, exit 2, nothing written`, async () => {
    await fc.assert(
      fc.asyncProperty(hostileCase, async ({ args, env }) => {
        const result = await inProcess(args, env);
        const context = `${describeCase(args, env)}\n→ exit ${result.code}, stderr: ${result.stderr.slice(0, 500)}`;
        expect(result.code, context).toBe(2);
        expect(oneCleanLine(result.stderr), context).toBe(true);
        expect(result.stderr, context).toMatch(/^presence: /);
        await nothingWritten();
      }),
      { numRuns: IN_PROCESS_RUNS, seed: SEED, endOnFailure: true },
    );
  }, 300_000);

  it(`${SPAWNED_RUNS} of them through the real binary: the same, and no shell ever runs a metacharacter`, async () => {
    const cases = fc.sample(hostileCase, { numRuns: SPAWNED_RUNS, seed: SEED + 1 });
    for (let at = 0; at < cases.length; at += 4) {
      const results = await Promise.all(
        cases.slice(at, at + 4).map(async ({ args, env }) => ({ args, env, result: await runCli(args, { env: { PRESENCE_STATE_DIR: stateDir, ...env } }) })),
      );
      for (const { args, env, result } of results) {
        const context = `${describeCase(args, env)}\n→ exit ${result.code}, stderr: ${result.stderr.slice(0, 500)}`;
        expect(result.code, context).toBe(2);
        expect(oneCleanLine(result.stderr), context).toBe(true);
      }
    }
    await nothingWritten();
    expect(readdirSync('/tmp').includes('pwned')).toBe(false);
  }, 300_000);
});
