/**
 * Every shell block the README and docs/ mark runnable (```sh runnable, see
 * docs/contributing.md) runs as written, through bash, with `presence` on PATH
 * and MONGODB_URI on a fresh database of the real engine seeded with a small
 * platform. Each page starts from the same seed and runs its blocks in order.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Document } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoPopulation } from '../../src/presence/demo-population.ts';
import { REPO } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { docPages, fencedBlocks, readPage, shellCommands, type FencedBlock } from './markdown.ts';

const BLOCK_TIMEOUT_MS = 120_000;
const database = useTestDatabase('docs');
const scratch = mkdtempSync(join(tmpdir(), 'presence-docs-'));

/** `presence` as a user has it on PATH after installing. */
const shimDir = join(scratch, 'bin');
beforeAll(() => {
  mkdirSync(shimDir);
  writeFileSync(join(shimDir, 'presence'), `#!/bin/sh\nexec "${process.execPath}" "${join(REPO, 'bin', 'presence.js')}" "$@"\n`);
  chmodSync(join(shimDir, 'presence'), 0o755);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * The demo's platform at a small size, without its malformed users (so the
 * health check's outcome depends on the index alone), some e-mails left
 * unnormalised for `normalize-emails`, and the same users in the status model
 * of the configuration examples as `members`.
 */
async function seed(): Promise<void> {
  const wellFormed = (user: Document) =>
    (user.isOnline === undefined || typeof user.isOnline === 'boolean') &&
    (user.lastSeen === undefined || user.lastSeen === null || user.lastSeen instanceof Date);
  const users = demoPopulation(200, new Date()).users.filter(wellFormed);
  users.forEach((user, index) => {
    if (index % 8 === 0) user.email = ` ${String(user.email).toUpperCase()}`;
  });
  const members = users.map(({ isOnline, lastSeen, ...member }, index) => ({
    ...member,
    ...(isOnline === undefined ? {} : { status: isOnline ? (index % 3 ? 'online' : 'away') : 'offline' }),
    ...(lastSeen === undefined ? {} : { lastActiveAt: lastSeen }),
  }));
  await database.db().dropDatabase();
  await database.db().collection('users').insertMany(users);
  await database.db().collection('members').insertMany(members);
}

/** The id a page means by `$RUN_ID`: the latest run that wrote and succeeded. */
async function lastRunId(): Promise<string> {
  const [run] = await database
    .db()
    .collection<{ _id: string }>('maintenance_runs')
    .find({ kind: 'run', dryRun: false, status: 'succeeded' }, { sort: { startedAt: -1 }, limit: 1 })
    .toArray();
  return run?._id ?? '';
}

function runBlock(block: FencedBlock, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  // Stop at the first failing command and name it, the way an operator would see it.
  const script = `set -eo pipefail\ntrap 'echo "exit $? at: $BASH_COMMAND" >&2' ERR\n${block.body}\n`;
  return new Promise((done, fail) => {
    const child = spawn('bash', ['-c', script], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), BLOCK_TIMEOUT_MS);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

/** The user's environment, less anything of ours or of the machine's that would change what a command does. */
function environment(stateDir: string, runId: string): NodeJS.ProcessEnv {
  const kept = Object.entries(process.env).filter(
    ([name]) => !/^(PRESENCE_|MONGODB_)/.test(name) || name === 'PRESENCE_CACHE_DIR',
  );
  return {
    ...Object.fromEntries(kept),
    PATH: `${shimDir}:${process.env.PATH}`,
    MONGODB_URI: database.uri(),
    PRESENCE_STATE_DIR: stateDir,
    RUN_ID: runId,
  };
}

const pages = docPages().map((page) => ({
  page,
  blocks: fencedBlocks(page, readPage(page)).filter((block) => block.runnable),
}));

it('the docs mark commands runnable', () => {
  expect(pages.flatMap(({ blocks }) => blocks).length).toBeGreaterThan(20);
  for (const block of pages.flatMap(({ blocks }) => blocks)) {
    expect(['sh', 'bash', 'shell'], `${block.page}:${block.line}`).toContain(block.language);
    // A command expected to fail stands alone, so no earlier failure can pass for it.
    if (block.exit !== 0) expect(shellCommands(block.body), `${block.page}:${block.line}`).toHaveLength(1);
  }
});

describe.each(pages.filter(({ blocks }) => blocks.length > 0))('$page', ({ blocks }) => {
  let stateDir: string;
  beforeAll(async () => {
    stateDir = mkdtempSync(join(scratch, 'state-'));
    await seed();
  });

  it.each(blocks.map((block) => ({ name: `${block.page}:${block.line} ${shellCommands(block.body)[0]}`, block })))(
    '$name',
    async ({ block }) => {
      const { code, output } = await runBlock(block, environment(stateDir, await lastRunId()));
      expect(code, `${block.page}:${block.line}\n${block.body}\n--- output:\n${output}`).toBe(block.exit);
    },
    BLOCK_TIMEOUT_MS + 10_000,
  );
});
