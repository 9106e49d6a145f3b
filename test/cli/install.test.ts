import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';

const exec = promisify(execFile);
const database = useTestDatabase('install');
const INSTALL_TIMEOUT_MS = 10 * 60_000;

/** A task as a user writes it, in a directory of its own: no node_modules, only the installed CLI. */
const USER_TASK = `import { defineTask, z } from 'presence-maint/task';

export default defineTask({
  id: 'greet-users',
  version: 1,
  description: 'Stamp a greeting on every user',
  mode: 'repeatable',
  params: z.object({ greeting: z.string().default('hello') }),
  plan: ({ params }) => ({
    collection: 'users',
    filter: { greeting: { $ne: params.greeting } },
    fields: ['greeting'],
    change: () => ({ set: { greeting: params.greeting } }),
  }),
});
`;

/** npm's own settings for this test run (npm test sets some) must not steer the install under test. */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const keep = ['npm_config_registry', 'npm_config_cache', 'npm_config_userconfig'].includes(key);
    if (keep || !key.toLowerCase().startsWith('npm_')) env[key] = value;
  }
  return env;
}

interface PublishedPackage {
  size: number;
  unpackedSize: number;
  files: Array<{ path: string }>;
}

interface Exited {
  code: number;
  stdout: string;
  stderr: string;
}

/** The installed `presence`, started the way a shell starts it: its own shebang. */
async function installed(bin: string, args: string[], stateDir: string): Promise<Exited> {
  try {
    const { stdout, stderr } = await exec(bin, args, { env: { ...npmEnv(), PRESENCE_STATE_DIR: stateDir, MONGODB_URI: undefined }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('npm pack, then npm install -g on a clean prefix, gives a working presence', () => {
  const work = mkdtempSync(join(tmpdir(), 'presence-install-'));
  const prefix = join(work, 'prefix');
  const bin = join(prefix, 'bin', 'presence');
  const stateDir = tempStateDir();
  const presence = (args: string[]) => installed(bin, args, stateDir);

  beforeAll(async () => {
    // `npm test` has just built dist/: packing without `prepare` leaves it alone for the other test files.
    await exec('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: REPO, env: npmEnv() });
    const tarball = readdirSync(work).find((file) => /^presence-maint-.*\.tgz$/.test(file));
    expect(tarball).toBeDefined();
    await exec('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', join(work, tarball!)], {
      cwd: work,
      env: npmEnv(),
      timeout: INSTALL_TIMEOUT_MS,
    });
    await database.db().createCollection('users');
  }, INSTALL_TIMEOUT_MS);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('ships the compiled tool, not its sources or tests', () => {
    const packageDir = join(prefix, 'lib', 'node_modules', 'presence-maint');
    expect(existsSync(join(packageDir, 'dist', 'src', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(packageDir, 'launcher', 'main.go'))).toBe(true);
    // Of src/, only what the dashboard serves to browsers as it is.
    expect(readdirSync(join(packageDir, 'src'), { recursive: true, encoding: 'utf8' }).filter((file) => /\.\w+$/.test(file)).sort()).toEqual([
      'dashboard/assets/dashboard.css',
      'dashboard/assets/dashboard.js',
    ]);
    expect(existsSync(join(packageDir, 'test'))).toBe(false);
  });

  it('npm publish --dry-run would publish the compiled tool, the dashboard assets and the launcher sources, no tests or bench', async () => {
    // The registry is told nothing: --dry-run packs and lists, --ignore-scripts keeps `prepare` off the built dist/.
    const { stdout } = await exec('npm', ['publish', '--dry-run', '--ignore-scripts', '--json'], { cwd: REPO, env: npmEnv(), timeout: 120_000 });
    const published = (JSON.parse(stdout) as Record<string, PublishedPackage>)['presence-maint']!;
    const files = published.files.map((file) => file.path);
    const shipped = (file: string) =>
      ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'bin/presence.js', 'launcher/go.mod', 'launcher/go.sum', 'launcher/main.go', 'contrib/prometheus/presence.rules.yml'].includes(
        file,
      ) ||
      /^dist\/(src|tasks)\/.+\.(js|d\.ts)$/.test(file) ||
      /^src\/dashboard\/assets\/[\w.-]+\.(js|css)$/.test(file);
    expect(files.filter((file) => !shipped(file))).toEqual([]);
    expect(files).toEqual(
      expect.arrayContaining(['dist/src/cli/main.js', 'dist/tasks/presence-stale.js', 'src/dashboard/assets/dashboard.js', 'launcher/main.go', 'CHANGELOG.md', 'contrib/prometheus/presence.rules.yml']),
    );
    expect(files.filter((file) => /(^|\/)(test|bench)\//.test(file))).toEqual([]);
    // The README states the packed size: it must still be true, within a fifth.
    const stated = /packs to about (\d+) kB \((\d+) kB unpacked\)/.exec(readFileSync(join(REPO, 'README.md'), 'utf8'));
    expect(stated, 'the packed size in README.md').not.toBeNull();
    expect(Math.abs(published.size / 1000 / Number(stated![1]) - 1)).toBeLessThan(0.2);
    expect(Math.abs(published.unpackedSize / 1000 / Number(stated![2]) - 1)).toBeLessThan(0.2);
  });

  it('presence --version and -V print the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await presence([flag]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`${version}\n`);
    }
  });

  it('presence --help exits 0', async () => {
    const result = await presence(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: presence/);
  });

  it('presence status reads the database', async () => {
    const result = await presence(['status', '--uri', database.uri()]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('presence dashboard serves its pages and assets, uPlot included, from the installed package', async () => {
    const child = spawn(bin, ['dashboard', '--port', '0', '--uri', database.uri()], {
      env: { ...npmEnv(), PRESENCE_STATE_DIR: stateDir, MONGODB_URI: undefined },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const found = /dashboard on (http:\/\/\S+)/.exec(output)?.[1];
          if (found) resolve(found);
        });
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.on('close', (code) => reject(new Error(`exited ${code}: ${output}`)));
      });
      for (const path of ['/', '/runs', '/tasks', '/assets/dashboard.js', '/assets/dashboard.css', '/assets/uPlot.iife.min.js', '/assets/uPlot.min.css']) {
        expect((await fetch(url + path)).status, path).toBe(200);
      }
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('presence tasks lists the built-in tasks', async () => {
    const result = await presence(['tasks', '--uri', database.uri()]);
    expect(result.code).toBe(0);
    for (const task of ['normalize-emails', 'presence-cleanup', 'presence-indexes', 'presence-reconcile', 'presence-stale']) {
      expect(result.stdout).toContain(task);
    }
  });

  it("runs a user's TypeScript task that imports presence-maint/task from a bare directory", async () => {
    const tasksDir = join(work, 'my-tasks');
    mkdirSync(tasksDir);
    writeFileSync(join(tasksDir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(tasksDir, 'greet-users.ts'), USER_TASK);
    await database.db().collection('users').insertMany([{ name: 'ada' }, { name: 'bob', greeting: 'hello' }]);

    const listed = await presence(['tasks', '--uri', database.uri(), '--tasks-dir', tasksDir]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/greet-users\s+1\s+repeatable/);

    const run = await presence(['run', 'greet-users', '--param', 'greeting=hello', '--uri', database.uri(), '--tasks-dir', tasksDir, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(await database.db().collection('users').countDocuments({ greeting: 'hello' })).toBe(2);
  });

  it("gives an app presence-maint/socketio, the presence endpoint and responder it installs on its Socket.IO servers", async () => {
    const app = join(work, 'app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module' }));
    symlinkSync(join(prefix, 'lib', 'node_modules', 'presence-maint'), join(app, 'node_modules', 'presence-maint'));
    const script = "import { presenceEndpoint, listenPresenceEndpoint, presenceResponder } from 'presence-maint/socketio'; console.log(typeof presenceEndpoint, typeof listenPresenceEndpoint, typeof presenceResponder);";
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { cwd: app, env: npmEnv() });
    expect(stdout.trim()).toBe('function function function');
  });
});
