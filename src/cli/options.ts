import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_BATCH_SIZE } from '../db/server.ts';
import { addNotifyOption } from './notify-options.ts';
import { DEFAULT_MAX_LAG_SECONDS } from './pace.ts';

/** Most servers refuse more than 100,000 writes in one batch (maxWriteBatchSize). */
export const MAX_BATCH_SIZE = 100_000;

export function integerIn(min: number, max: number, what: string) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError(`${what} must be a whole number, got "${raw.slice(0, 40)}"`);
    const value = Number(raw);
    if (value < min || value > max) throw new InvalidArgumentError(`${what} must be between ${min} and ${max}, got ${raw}`);
    return value;
  };
}

/** `--param key=value`, repeatable. */
export function collectParam(raw: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = raw.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`expected key=value, got "${raw.slice(0, 40)}"`);
  return { ...previous, [raw.slice(0, at)]: raw.slice(at + 1) };
}

/** Read preference modes the plan may use; a URI's `readPreference` is never taken for it. */
export const PLAN_READ_PREFERENCES = ['primary', 'primaryPreferred', 'secondary', 'secondaryPreferred', 'nearest'] as const;
export type PlanReadPreference = (typeof PLAN_READ_PREFERENCES)[number];

/** `json: false` for a command with no result to print (the dashboard): `--json` is then refused as unknown, exit 2. */
export function addTargetOptions(command: Command, { json = true } = {}): Command {
  command
    .option('--uri <uri>', 'MongoDB connection string (default: $MONGODB_URI, else mongodb://127.0.0.1:27017/)')
    .option('--db <name>', 'database name (default: the URI path)');
  if (json) command.option('--json', 'print a machine-readable result on stdout');
  return command
    .option('--state-dir <dir>', 'where backups and the local audit file live (default: $PRESENCE_STATE_DIR or ~/.presence-maint)')
    .option('--backup-dir <dir>', 'backup directory (default: <state-dir>/backups)');
}

export function addWriteOptions(command: Command): Command {
  return addPaceOptions(addNotifyOption(command).option('--dry-run', 'plan only: report what would change, write nothing')).addOption(
    new Option(
      '--plan-read-preference <mode>',
      "where the plan's count and sample are read (default: primary); the backup, writes and verify always use the primary",
    ).choices(PLAN_READ_PREFERENCES),
  );
}

/** How fast a run writes: also taken by `resume`, which continues a run without planning it again. */
export function addPaceOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--batch-size <n>', `documents per write batch (default: ${DEFAULT_BATCH_SIZE}, or the server's maximum if lower)`).argParser(
        integerIn(1, MAX_BATCH_SIZE, '--batch-size'),
      ),
    )
    .addOption(
      new Option('--rate <docs/s>', 'at most this many documents written per second (default: no limit)').argParser(
        integerIn(1, 10_000_000, '--rate'),
      ),
    )
    .addOption(
      new Option(
        '--max-lag <seconds>',
        `on a replica set, hold writes while a secondary is further behind than this (default: ${DEFAULT_MAX_LAG_SECONDS})`,
      ).argParser(parseMaxLag),
    );
}

const MAX_LAG_LIMIT_SECONDS = 86_400;

export function parseMaxLag(raw: string): number {
  if (!/^\d+(\.\d+)?$/.test(raw.trim())) {
    throw new InvalidArgumentError(`--max-lag must be a number of seconds, 0 or more, got "${raw.slice(0, 40)}"`);
  }
  const seconds = Number(raw);
  if (seconds > MAX_LAG_LIMIT_SECONDS) {
    throw new InvalidArgumentError(`--max-lag must be at most ${MAX_LAG_LIMIT_SECONDS} seconds, got ${raw}`);
  }
  return seconds;
}

export const DEFAULT_STATUS_MAX_TIME_SECONDS = 5;
const MAX_STATUS_TIME_SECONDS = 600;

/** `--max-time`: seconds, decimals allowed, more than 0 and at most ten minutes. */
export function parseMaxTime(raw: string): number {
  const seconds = Number(raw.trim());
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || seconds <= 0 || seconds > MAX_STATUS_TIME_SECONDS) {
    throw new InvalidArgumentError(`--max-time must be a number of seconds above 0 and at most ${MAX_STATUS_TIME_SECONDS}, got "${raw.slice(0, 40)}"`);
  }
  return seconds;
}
