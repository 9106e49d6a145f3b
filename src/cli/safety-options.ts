import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Target } from '../db/target.ts';
import { UsageError } from '../engine/errors.ts';
import { parseTargetEnv, parseWindow, parseWindows, TargetEnv, type MaintenanceWindow, type SafetyPolicy } from '../engine/safety.ts';
import { integerIn } from './options.ts';
import { WindowEnd } from '../engine/run-limits.ts';

export interface SafetyOptions {
  env?: string;
  yes?: boolean;
  expect?: number;
  tolerance?: string;
  window?: MaintenanceWindow[];
  outsideWindow?: string;
  /** Milliseconds, from `--max-runtime`. */
  maxRuntime?: number;
  atWindowEnd?: WindowEnd;
}

export function addSafetyOptions(command: Command): Command {
  return command
    .option('--env <env>', 'target classification: development, staging or production (default: $PRESENCE_ENV, else production unless every host is local)')
    .option('--yes', 'no interactive question; on production, needs --expect too')
    .addOption(new Option('--expect <count>', "refuse unless the plan's count is this (take it from a dry run)").argParser(integerIn(0, Number.MAX_SAFE_INTEGER, '--expect')))
    .option('--tolerance <n|n%>', 'how far the count may be from --expect (default 0)')
    .option('--window <spec>', 'maintenance window, e.g. "02:00-05:00 Europe/Paris" (repeatable; default: $PRESENCE_MAINTENANCE_WINDOWS)', collectWindow)
    .option('--outside-window <reason>', 'run outside the maintenance windows anyway; the reason is audited')
    .addOption(
      new Option('--max-runtime <duration>', 'stop the run after this long (90s, 20m, 2h), interrupted and resumable').argParser(parseRuntime),
    )
    .addOption(
      new Option('--at-window-end <action>', "at the window's end: pause until a window opens again, or stop (interrupted, resumable)")
        .choices(Object.values(WindowEnd))
        .default(WindowEnd.pause),
    );
}

const durationFormat = /^(\d{1,6})([smh])$/;

/** `90s`, `20m`, `2h`: in milliseconds. */
function parseRuntime(raw: string): number {
  const match = durationFormat.exec(raw.trim());
  if (!match || Number(match[1]) === 0) throw new InvalidArgumentError(`expected a duration like 90s, 20m or 2h, got "${raw.slice(0, 40)}"`);
  return Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 's' | 'm' | 'h'];
}

function collectWindow(raw: string, previous: MaintenanceWindow[] = []): MaintenanceWindow[] {
  try {
    return [...previous, parseWindow(raw)];
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function toleranceOf(raw: string | undefined, expected: number): number {
  if (raw === undefined) return 0;
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(raw.trim());
  if (!match) throw new UsageError(`--tolerance must be a count or a percentage (10 or 5%), got "${raw.slice(0, 40)}"`);
  const value = Number(match[1]);
  return match[2] ? Math.floor((expected * value) / 100) : Math.floor(value);
}

/** The target's classification: --env, else PRESENCE_ENV, else production unless every host is this machine. */
export function targetEnv(options: SafetyOptions, target: Target, env: NodeJS.ProcessEnv = process.env): TargetEnv {
  if (options.env !== undefined) return parseTargetEnv(options.env, '--env');
  if (env.PRESENCE_ENV) return parseTargetEnv(env.PRESENCE_ENV, 'PRESENCE_ENV');
  return target.loopback ? TargetEnv.development : TargetEnv.production;
}

export function safetyPolicy(
  options: SafetyOptions,
  target: Target,
  ask: SafetyPolicy['ask'],
  env: NodeJS.ProcessEnv = process.env,
): SafetyPolicy {
  if (options.tolerance !== undefined && options.expect === undefined) {
    throw new UsageError('--tolerance needs --expect');
  }
  return {
    env: targetEnv(options, target, env),
    windows: options.window ?? parseWindows(env.PRESENCE_MAINTENANCE_WINDOWS ?? ''),
    outsideWindowReason: options.outsideWindow,
    expect: options.expect === undefined ? undefined : { count: options.expect, tolerance: toleranceOf(options.tolerance, options.expect) },
    yes: options.yes === true,
    ask,
  };
}
