import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Db } from 'mongodb';
import { quote } from 'zx';
import type { RunRecord } from '../../src/engine/run-record.ts';
import { REPO, type CliResult } from '../support/cli.ts';
import { buildUsers, type Cohort } from '../support/users.ts';

export type Runbook = 'resolve-ghost-statuses' | 'daily-maintenance' | 'production-rehearsal' | 'restore-last-run';

const TIMEOUT_MS = 90_000;

/** The runbook's command line, as the docs tell an operator to run it. */
function commandOf(runbook: Runbook, args: string[]): string[] {
  return [process.execPath, '--import', 'tsx', join('runbooks', `${runbook}.ts`), ...args];
}

/** Only what the test gives: no target, environment class or window leaks in from the machine. */
function environment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...process.env,
    MONGODB_URI: undefined,
    PRODUCTION_MONGODB_URI: undefined,
    STAGING_MONGODB_URI: undefined,
    PRESENCE_ENV: undefined,
    PRESENCE_MAINTENANCE_WINDOWS: undefined,
    ...env,
  };
}

export interface RunbookRun {
  env?: NodeJS.ProcessEnv;
  /** Called with the output so far, e.g. to change the database while the runbook is at a given step. */
  onStdout?: (stdout: string) => void;
  /** Called once the process runs, e.g. to send it a signal. */
  onSpawn?: (child: ChildProcess) => void;
}

/** Runs a runbook as a real process without a terminal (stdin is not a TTY). */
export function runRunbook(runbook: Runbook, args: string[], options: RunbookRun = {}): Promise<CliResult> {
  const [command, ...rest] = commandOf(runbook, args);
  return collect(spawn(command!, rest, { cwd: REPO, env: environment(options.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'] }), options);
}

export function hasTerminalEmulation(): boolean {
  const probe = spawnSync('script', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 && /util-linux/.test(probe.stdout);
}

/**
 * Runs a runbook in a pseudo-terminal (util-linux `script`), as an operator
 * at a keyboard: when the output shows `prompt`, `beforeAnswer` runs, then
 * `answer` is typed.
 */
export function runRunbookInTerminal(
  runbook: Runbook,
  args: string[],
  dialogue: { prompt: RegExp; answer: string; beforeAnswer?: () => Promise<void>; env?: NodeJS.ProcessEnv },
): Promise<CliResult> {
  const child = spawn('script', ['-qec', commandOf(runbook, args).map((arg) => quote(arg)).join(' '), '/dev/null'], {
    cwd: REPO,
    env: environment(dialogue.env ?? {}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let answered = false;
  return collect(child, {
    onStdout: (stdout) => {
      if (answered || !dialogue.prompt.test(stdout)) return;
      answered = true;
      void (dialogue.beforeAnswer ?? (async () => {}))().then(() => child.stdin!.write(`${dialogue.answer}\r`));
    },
  });
}

function collect(child: ChildProcess, options: RunbookRun): Promise<CliResult> {
  options.onSpawn?.(child);
  return new Promise((done, fail) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      options.onStdout?.(stdout);
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      child.stdin?.end();
      done({ code, signal, stdout, stderr });
    });
  });
}

export interface SeedUsers {
  /** Online, last active a few minutes ago. */
  active?: number;
  /** Online, last active two hours ago: stale for any threshold under that. */
  stale?: number;
  offline?: number;
  /** Create the presence index, so the health check passes. */
  index?: boolean;
}

/** Users as the presence model expects them by default: boolean `isOnline`, Date `lastSeen`, in `users`. */
export async function seedUsers(db: Db, seed: SeedUsers): Promise<void> {
  await db.dropDatabase();
  const kind = (label: string, count: number, online: boolean, minutesAgo: number): Cohort => ({
    count,
    id: (n) => `${label}-${n}`,
    name: (n) => `${label} ${n}`,
    online: () => online,
    minutesAgo: () => minutesAgo,
  });
  const users = buildUsers(new Date(), [
    kind('active', seed.active ?? 0, true, 5),
    kind('stale', seed.stale ?? 0, true, 120),
    kind('offline', seed.offline ?? 0, false, 600),
  ]);
  if (users.length > 0) await db.collection('users').insertMany(users);
  if (seed.index ?? true) await db.collection('users').createIndex({ isOnline: 1, lastSeen: 1 }, { name: 'presence_isOnline_lastSeen' });
}

export function onlineCount(db: Db): Promise<number> {
  return db.collection('users').countDocuments({ isOnline: true });
}

/** The audit in the target database, oldest first. */
export function auditOf(db: Db, filter: Record<string, unknown> = {}): Promise<RunRecord[]> {
  return db.collection<RunRecord>('maintenance_runs').find(filter, { sort: { startedAt: 1 } }).toArray();
}

/** Runs that were meant to write (no dry runs): the ones that must not exist when a runbook refuses. */
export function writingRuns(db: Db): Promise<RunRecord[]> {
  return auditOf(db, { dryRun: false });
}

/** A one-hour window that starts `fromNowMinutes` from now, in UTC: negative is open now, positive is closed. */
export function windowFromNow(fromNowMinutes: number): string {
  const start = new Date(Date.now() + fromNowMinutes * 60_000);
  const end = new Date(start.getTime() + 60 * 60_000);
  const hhmm = (date: Date) => date.toISOString().slice(11, 16);
  return `${hhmm(start)}-${hhmm(end)} UTC`;
}
