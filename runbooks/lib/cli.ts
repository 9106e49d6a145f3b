import { fileURLToPath } from 'node:url';
import { EJSON } from 'bson';
import { $, type ProcessPromise } from 'zx';
import { RunbookError, RunbookExit } from './runbook.ts';

const BIN = fileURLToPath(new URL('../../bin/presence.js', import.meta.url));

export interface CliResult<T> {
  exitCode: number;
  /** The `--json` output, parsed (dates as Date); undefined when there was none. */
  value: T | undefined;
  /** Why it failed: the record's error, else the CLI's last line on stderr. */
  message: string;
}

let current: ProcessPromise | undefined;
let interruptedBy: NodeJS.Signals | undefined;

/**
 * Ctrl-C reaches the CLI too (same process group) and it stops after its
 * current batch, audited as interrupted; SIGTERM is passed on to it. Either
 * way the runbook starts no further step.
 */
export function stopOnSignals(): void {
  process.on('SIGINT', () => (interruptedBy ??= 'SIGINT'));
  process.on('SIGTERM', () => {
    interruptedBy ??= 'SIGTERM';
    try {
      current?.kill('SIGTERM').catch(() => undefined);
    } catch {
      // Settled in the meantime: nothing left to stop.
    }
  });
}

/** `presence <args> --json`, as an operator runs it: one process, every argument quoted by zx. */
export async function presenceJson<T>(step: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<CliResult<T>> {
  if (interruptedBy) throw new RunbookError(`interrupted by ${interruptedBy}`, RunbookExit.interrupted, step);
  current = $({ nothrow: true, quiet: true, env })`${process.execPath} ${BIN} ${args} --json`;
  const output = await current;
  current = undefined;
  const value = parseJson<T>(output.stdout);
  const exitCode = output.exitCode ?? RunbookExit.failed;
  return { exitCode, value, message: exitCode === 0 ? '' : failureMessage(value, output.stderr, exitCode) };
}

/** The same, for a step that must succeed: its value, or the runbook stops with the CLI's exit code. */
export async function presenceStep<T>(step: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<T> {
  const result = await presenceJson<T>(step, args, env);
  if (result.exitCode !== 0) throw new RunbookError(result.message, result.exitCode, step);
  if (result.value === undefined) throw new RunbookError('the CLI printed no result', RunbookExit.failed, step);
  return result.value;
}

function parseJson<T>(stdout: string): T | undefined {
  if (stdout.trim() === '') return undefined;
  try {
    return EJSON.parse(stdout, { relaxed: true }) as T;
  } catch {
    return undefined;
  }
}

function failureMessage(value: unknown, stderr: string, exitCode: number): string {
  const recorded = (value as { error?: { message?: unknown } } | undefined)?.error?.message;
  if (typeof recorded === 'string' && recorded !== '') return recorded;
  const lastLine = stderr.trim().split('\n').at(-1)?.replace(/^presence: /, '');
  return lastLine || `presence exited with ${exitCode}`;
}
