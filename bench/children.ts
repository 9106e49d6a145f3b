import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RunRecord } from '../src/engine/run-record.ts';
import { COMMAND_LOG_ENV, countCommands } from './command-log.ts';
import type { WorkerRequest, WorkerResult } from './worker.ts';

const REPO = resolve(import.meta.dirname, '..');
const PRESENCE_BIN = join(REPO, 'bin', 'presence.js');
const WORKER = join(REPO, 'bench', 'worker.ts');
const PEAK_RSS_HOOK = pathToFileURL(join(REPO, 'bench', 'peak-rss.mjs')).href;

/** What every measured process reports, whoever wrote the code it runs. */
export interface Measured {
  /** Spawn to exit: node start-up and connecting included. */
  processMs: number;
  peakRssMb: number;
  /** The process's own CPU time (user + system): what the client side costs, whatever the database's speed. */
  cpuMs: number;
  /** Commands the process sent, from its driver's command log (bench/command-log.ts). */
  roundTrips: number;
  /** By command and collection, e.g. `update users`. */
  commands: Record<string, number>;
  /** Time waited on each kind of command, ms (bench/command-log.ts). */
  commandMs: Record<string, number>;
}

interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
  processMs: number;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<Exited> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr, processMs: performance.now() - started }));
  });
}

/** The environment of a child: no presence settings or target of the operator's leak in; its driver logs its commands. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PRESENCE_') && !key.startsWith('MONGODB_LOG_') && key !== 'MONGODB_URI') env[key] = value;
  }
  return { ...env, ...COMMAND_LOG_ENV, ...extra };
}

/** A hand-written case (bench/worker.ts) in its own process. */
export interface WorkerRun extends Omit<WorkerResult, 'maxRssKb'>, Measured {}

export async function runWorker(request: WorkerRequest): Promise<WorkerRun> {
  const exited = await run(['--import', 'tsx', WORKER, JSON.stringify(request)], cleanEnv());
  const { roundTrips, commands, commandMs, otherOutput } = countCommands(exited.stderr);
  if (exited.code !== 0) throw new Error(`bench worker ${request.kind} exited ${exited.code}: ${otherOutput.trim().slice(-500)}`);
  const { maxRssKb, cpuMs, ...result } = JSON.parse(exited.stdout) as WorkerResult;
  return { ...result, processMs: exited.processMs, peakRssMb: maxRssKb / 1024, cpuMs, roundTrips, commands, commandMs };
}

export interface ToolRun extends Measured {
  record: RunRecord;
}

/** `presence <args> --json` as an operator runs it; its peak RSS from a preloaded exit hook. */
export async function runTool(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ToolRun> {
  const scratch = mkdtempSync(join(tmpdir(), 'presence-bench-tool-'));
  const rssFile = join(scratch, 'peak-rss');
  const cpuFile = join(scratch, 'cpu');
  try {
    const exited = await run(
      ['--import', PEAK_RSS_HOOK, PRESENCE_BIN, ...args, '--json', '--state-dir', scratch],
      cleanEnv({ ...env, BENCH_PEAK_RSS_FILE: rssFile, BENCH_CPU_FILE: cpuFile }),
    );
    const { roundTrips, commands, commandMs, otherOutput } = countCommands(exited.stderr);
    if (exited.code !== 0) {
      throw new Error(`presence ${args[0]} exited ${exited.code}: ${(otherOutput.trim() || exited.stdout).trim().slice(-500)}`);
    }
    return {
      record: JSON.parse(exited.stdout) as RunRecord,
      processMs: exited.processMs,
      peakRssMb: Number(readFileSync(rssFile, 'utf8')) / 1024,
      cpuMs: Number(readFileSync(cpuFile, 'utf8')),
      roundTrips,
      commands,
      commandMs,
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export function scratchFile(name: string): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'presence-bench-'));
  return { path: join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
