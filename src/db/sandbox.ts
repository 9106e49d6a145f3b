import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { DatabaseError } from '../engine/errors.ts';
import { packageRoot } from '../package-root.ts';

const LAUNCHER_SOURCES = ['go.mod', 'go.sum', 'main.go'];
const START_TIMEOUT_MS = 30_000;
const BUILD_TIMEOUT_MS = 15 * 60_000;

export interface Sandbox {
  /** `mongodb://127.0.0.1:PORT/`: loopback only, no credentials. */
  uri: string;
  stop(): Promise<void>;
  /** SIGKILL: the server dies as in a crash, mid-request (its data directory survives, for a restart). */
  kill(): Promise<void>;
}

function cacheDir(env: NodeJS.ProcessEnv): string {
  return env.PRESENCE_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'presence-maint');
}

/**
 * The embedded FerretDB launcher, built from `launcher/` with the machine's Go
 * toolchain on first use and cached under a name that changes with its sources.
 */
export async function launcherBinary(env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = () => {}): Promise<string> {
  const launcherDir = join(packageRoot(), 'launcher');
  const hash = createHash('sha256');
  for (const file of LAUNCHER_SOURCES) hash.update(await readFile(join(launcherDir, file)));
  const binary = join(cacheDir(env), `ferretdb-launcher-${hash.digest('hex').slice(0, 16)}`);
  if (await exists(binary)) return binary;

  await mkdir(dirname(binary), { recursive: true });
  const building = `${binary}.${process.pid}.tmp`;
  log('building the embedded FerretDB launcher (first use; takes a minute or two)…');
  try {
    await promisify(execFile)('go', ['build', '-trimpath', '-o', building, '.'], {
      cwd: launcherDir,
      timeout: BUILD_TIMEOUT_MS,
      env: { ...env, CGO_ENABLED: '0' },
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    await rm(building, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    throw new DatabaseError(
      code === 'ENOENT'
        ? 'no database for the sandbox: install Go >= 1.24 (to build the embedded FerretDB) or set MONGODB_TEST_URI / --uri to a MongoDB'
        : `building the embedded FerretDB failed: ${String((error as { stderr?: string }).stderr ?? error).trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  // Atomic: a concurrent build of the same sources produces the same file.
  await rename(building, binary);
  return binary;
}

/**
 * Starts an embedded FerretDB (SQLite in a temporary directory, or in
 * `dataDir` to keep it) on 127.0.0.1 and a free port. It exits with us: it
 * watches its stdin, which closes when this process dies.
 */
export async function startSandbox(
  options: { dataDir?: string; env?: NodeJS.ProcessEnv; log?: (line: string) => void } = {},
): Promise<Sandbox> {
  const env = options.env ?? process.env;
  const binary = await launcherBinary(env, options.log);
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const child = spawn(binary, ['-parent-watch', ...(options.dataDir ? ['-data', options.dataDir] : [])], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const uri = await firstLine(child);
  return {
    uri,
    stop: () => stopChild(child),
    kill: () => stopChild(child, 'SIGKILL'),
  };
}

async function firstLine(child: ChildProcess): Promise<string> {
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const lines = createInterface({ input: child.stdout! });
  const timer = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS);
  try {
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new DatabaseError(`the embedded FerretDB exited (${code}): ${stderr.trim()}`))),
    );
    exited.catch(() => undefined); // once the URI is read, a later exit is the caller's business
    const line = await Promise.race([new Promise<string>((done) => lines.once('line', done)), exited]);
    if (!line.startsWith('mongodb://127.0.0.1:')) throw new DatabaseError(`the embedded FerretDB printed no URI: ${line}`);
    return line.trim();
  } finally {
    clearTimeout(timer);
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
