import { parseArgs } from 'node:util';
import { UsageError } from '../../src/engine/errors.ts';
import { parseTargetEnv, parseWindow } from '../../src/engine/safety.ts';
import { RunbookUsageError } from './runbook.ts';

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string };

/** Passed on to every writing step: how the target is classified, when it may be written, how fast. */
export const writeOptions = {
  env: { type: 'string' },
  yes: { type: 'boolean' },
  window: { type: 'string', multiple: true },
  'outside-window': { type: 'string' },
  tolerance: { type: 'string' },
  'batch-size': { type: 'string' },
  rate: { type: 'string' },
} as const satisfies Record<string, OptionSpec>;

export const YES_HELP = `
  --yes                       no question: the dry run's count is passed as --expect`;

/** The help of every write option but --yes. */
export const WRITE_OPTIONS_HELP = `
  --env <env>                 development, staging or production (default: $PRESENCE_ENV, else the CLI's guess)
  --window <spec>             maintenance window, e.g. "02:00-05:00 Europe/Paris" (repeatable;
                              default: $PRESENCE_MAINTENANCE_WINDOWS)
  --outside-window <reason>   run outside the windows anyway; the reason is audited
  --tolerance <n|n%>          how far the real plan may be from the dry run's count (default 0)
  --batch-size <n>, --rate <docs/s>   pace of the writes (see presence run --help)`;

/** What parseArgs returns for these specs. */
export type Values<O extends Record<string, OptionSpec>> = {
  [K in keyof O]?: O[K] extends { multiple: true } ? string[] : O[K] extends { type: 'boolean' } ? boolean : string;
};
export type WriteValues = Values<typeof writeOptions>;

/**
 * Strict flags: an unknown flag, a missing value or a stray argument is one
 * line and exit 2. Returns undefined after printing the usage for --help.
 */
export function parseRunbookArgs<const O extends Record<string, OptionSpec>>(argv: string[], options: O, usage: string): Values<O> | undefined {
  let values: Values<O> & { help?: boolean };
  try {
    const config = { ...options, help: { type: 'boolean', short: 'h' } } satisfies Record<string, OptionSpec>;
    values = parseArgs({ args: argv, options: config, strict: true, allowPositionals: false }).values as Values<O> & { help?: boolean };
  } catch (error) {
    throw new RunbookUsageError(`${firstSentence(error)} (see --help)`);
  }
  if (values.help) {
    process.stdout.write(usage.trim() + '\n');
    return undefined;
  }
  return values;
}

function firstSentence(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const sentence = message.split(/\.\s/)[0]!.replace(/'/g, '').trim();
  return sentence.charAt(0).toLowerCase() + sentence.slice(1);
}

/** The target from its flag, else its environment variable; none is bad usage (never a silent default). */
export function targetUri(flagValue: string | undefined, flag: string, variable: string, env: NodeJS.ProcessEnv = process.env): string {
  const uri = flagValue ?? env[variable];
  if (!uri?.trim()) throw new RunbookUsageError(`no target: pass ${flag} <uri> or set ${variable}`);
  return uri.trim();
}

export function required(value: string | undefined, flag: string): string {
  if (!value?.trim()) throw new RunbookUsageError(`${flag} is required (see --help)`);
  return value.trim();
}

export function wholeNumber(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim())) throw new RunbookUsageError(`${flag} must be a whole number, got "${raw.slice(0, 40)}"`);
  return Number(raw);
}

/**
 * Checks the flags passed on to the CLI before the first step, so bad input
 * stops the runbook before it has done anything; the CLI checks them again.
 */
export function writeArgs(values: WriteValues, env: NodeJS.ProcessEnv = process.env): string[] {
  const args: string[] = [];
  if (values.env !== undefined) args.push('--env', checked(() => parseTargetEnv(values.env!, '--env')));
  else if (env.PRESENCE_ENV) checked(() => parseTargetEnv(env.PRESENCE_ENV!, 'PRESENCE_ENV'));
  for (const window of values.window ?? []) args.push('--window', checked(() => parseWindow(window)).spec);
  if (values['outside-window'] !== undefined) args.push('--outside-window', required(values['outside-window'], '--outside-window'));
  if (values['batch-size'] !== undefined) args.push('--batch-size', String(wholeNumber(values['batch-size'], '--batch-size')));
  if (values.rate !== undefined) args.push('--rate', String(wholeNumber(values.rate, '--rate')));
  return args;
}

/**
 * The flags of a confirmed write: `--yes --expect <the dry run's count>` and
 * the `--tolerance` given, checked now so a bad one stops the runbook before
 * its first step.
 */
export function confirmedWriteArgs(values: WriteValues): (planned: number) => string[] {
  const tolerance = values.tolerance?.trim();
  if (tolerance !== undefined && !/^\d+(\.\d+)?%?$/.test(tolerance)) {
    throw new RunbookUsageError(`--tolerance must be a count or a percentage (10 or 5%), got "${tolerance.slice(0, 40)}"`);
  }
  return (planned) => ['--yes', '--expect', String(planned), ...(tolerance === undefined ? [] : ['--tolerance', tolerance])];
}

function checked<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof UsageError) throw new RunbookUsageError(error.message);
    throw error;
  }
}
