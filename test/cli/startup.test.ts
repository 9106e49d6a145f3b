import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';

const database = useTestDatabase('startup');
const stateDir = tempStateDir();
const BIN = join(REPO, 'bin', 'presence.js');
const LOADED_PACKAGES_HOOK = pathToFileURL(join(REPO, 'test', 'support', 'loaded-packages.mjs')).href;
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');

/** What each command pays for at startup, not how long it takes: the timing is `npm run bench:startup`'s. */
const HEAVY = ['mongodb', 'bson', 'listr2', 'umzug', 'zx', 'enquirer', 'tsx'];

/** The packages a CLI run imported, and its exit code. */
function packagesLoadedBy(args: string[]): Promise<{ code: number | null; packages: Set<string> }> {
  const file = join(stateDir, `loaded-${Math.random().toString(16).slice(2)}`);
  writeFileSync(file, '');
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', LOADED_PACKAGES_HOOK, BIN, ...args], {
      cwd: REPO,
      env: { ...process.env, MONGODB_URI: undefined, PRESENCE_STATE_DIR: stateDir, LOADED_PACKAGES_FILE: file },
      stdio: 'ignore',
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, packages: new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean)) }));
  });
}

describe('the compiled CLI loads what a command needs, when it needs it', () => {
  it.each([[['--help']], [['--version']], [['status', '--help']], [['run', '--help']], [['pause']]])(
    'presence %j loads commander, none of the commands\' dependencies',
    async (args) => {
      const { packages } = await packagesLoadedBy(args);
      expect(packages).toContain('commander');
      expect(HEAVY.filter((name) => packages.has(name))).toEqual([]);
    },
  );

  it('the built-in tasks are compiled: listing them does not load tsx', async () => {
    const { code, packages } = await packagesLoadedBy(['tasks', '--uri', database.uri()]);
    expect(code).toBe(0);
    expect(packages).toContain('mongodb');
    expect(packages).not.toContain('tsx');
  });

  it("a TypeScript task in --tasks-dir is loaded through tsx, on demand", async () => {
    const { code, packages } = await packagesLoadedBy(['tasks', '--uri', database.uri(), '--tasks-dir', FIXTURES]);
    expect(code).toBe(0);
    expect(packages).toContain('tsx');
  });
});
