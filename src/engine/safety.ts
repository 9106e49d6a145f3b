import type { PlanKind } from './task.ts';
import { RefusedError, SafetyRule, UsageError } from './errors.ts';

export const TargetEnv = {
  development: 'development',
  staging: 'staging',
  production: 'production',
} as const;
export type TargetEnv = (typeof TargetEnv)[keyof typeof TargetEnv];

export function parseTargetEnv(raw: string, source: string): TargetEnv {
  if (!Object.values(TargetEnv).includes(raw as TargetEnv)) {
    throw new UsageError(`${source} must be one of ${Object.values(TargetEnv).join(', ')}, got "${raw.slice(0, 40)}"`);
  }
  return raw as TargetEnv;
}

/**
 * `02:00-05:00 Europe/Paris`: a daily window in a time zone; it may cross midnight. Seconds may be given
 * (`02:00:30-02:01:15`): a run stops at its window's end, and a window can be as short as the work it allows.
 */
export interface MaintenanceWindow {
  spec: string;
  startSecond: number;
  endSecond: number;
  timeZone: string;
}

const windowSpec = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?-([01]\d|2[0-3]|24):([0-5]\d)(?::([0-5]\d))?(?:\s+(\S+))?$/;

export function parseWindow(raw: string): MaintenanceWindow {
  const spec = raw.trim();
  const match = windowSpec.exec(spec);
  if (!match) throw new UsageError(`maintenance window "${spec.slice(0, 60)}" is not like "02:00-05:00 Europe/Paris"`);
  const [, h1, m1, s1 = '0', h2, m2, s2 = '0', zone = 'UTC'] = match;
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
  } catch {
    throw new UsageError(`maintenance window "${spec}": unknown time zone "${zone}"`);
  }
  const startSecond = (Number(h1) * 60 + Number(m1)) * 60 + Number(s1);
  const endSecond = (Number(h2) * 60 + Number(m2)) * 60 + Number(s2);
  if (endSecond > 24 * 3600) throw new UsageError(`maintenance window "${spec}" ends after 24:00`);
  if (startSecond === endSecond) throw new UsageError(`maintenance window "${spec}" is empty`);
  return { spec, startSecond, endSecond, timeZone: zone };
}

/** Several windows, separated by commas or semicolons. */
export function parseWindows(raw: string): MaintenanceWindow[] {
  return raw
    .split(/[;,]/)
    .filter((part) => part.trim() !== '')
    .map(parseWindow);
}

function secondOfDay(now: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).formatToParts(now);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return (part('hour') * 60 + part('minute')) * 60 + part('second');
}

export function insideWindow(window: MaintenanceWindow, now: Date): boolean {
  const second = secondOfDay(now, window.timeZone);
  return window.startSecond < window.endSecond
    ? second >= window.startSecond && second < window.endSecond
    : second >= window.startSecond || second < window.endSecond;
}

export interface SafetyPolicy {
  env: TargetEnv;
  /** None configured: any time is allowed. */
  windows: readonly MaintenanceWindow[];
  /** Run outside the windows anyway, for this reason; audited. */
  outsideWindowReason?: string;
  /** The count the operator expects: the plan's count must match, within `tolerance`. */
  expect?: { count: number; tolerance: number };
  /** The operator said yes ahead of time: no interactive question (production still needs an expected count). */
  yes: boolean;
  /** Asks the operator in a terminal; absent without one. */
  ask?: (question: string) => Promise<string>;
}

export interface WindowState {
  inside: boolean;
  windows: string[];
  overrideReason?: string;
}

/** Where `now` stands against the configured windows, and the override reason when outside. */
export function windowState(policy: SafetyPolicy, now: Date, dryRun: boolean): WindowState {
  const windows = policy.windows.map((window) => window.spec);
  const inside = policy.windows.length === 0 || policy.windows.some((window) => insideWindow(window, now));
  const reason = policy.outsideWindowReason?.trim();
  return inside || dryRun || !reason ? { inside, windows } : { inside, windows, overrideReason: reason };
}

/** Outside every configured window a non-dry run is refused, unless overridden with a reason. */
export function assertWindow(state: WindowState, dryRun: boolean): void {
  if (state.inside || dryRun || state.overrideReason) return;
  throw new RefusedError(
    `outside the maintenance window (${state.windows.join(', ')}): rerun inside it, or override it with a reason`,
    SafetyRule.maintenanceWindow,
  );
}

export interface Confirmation {
  by: 'expected-count' | 'typed-database-name' | 'not-required';
  expected?: number;
  tolerance?: number;
}

const VERBS: Record<Exclude<PlanKind, 'indexes'>, string> = { update: 'UPDATE {} in', delete: 'DELETE {} from', archive: 'ARCHIVE {} from' };

/** What a run will do, as its production confirmation says it: "DELETE 1,204 documents from sessions". */
export function changeWords(plan: { kind?: PlanKind; collection: string; into?: string }, count: number, restoring = false): string {
  const documents = `${count.toLocaleString('en-US')} document${count === 1 ? '' : 's'}`;
  if (restoring) return `RESTORE ${documents} of ${plan.collection}${plan.into === undefined ? '' : ` from ${plan.into}`}`;
  if (plan.kind === 'indexes') return `CREATE ${count} index${count === 1 ? '' : 'es'} on ${plan.collection}`;
  return `${VERBS[plan.kind ?? 'update'].replace('{}', documents)} ${plan.collection}${plan.into === undefined ? '' : ` into ${plan.into}`}`;
}

/**
 * An expected count must match the plan on any target. A non-dry run on
 * production also needs the operator's word: the database name typed in a
 * terminal, or, without one, a yes given ahead together with an expected count.
 */
export async function confirmRun(policy: SafetyPolicy, database: string, planned: number, what: string): Promise<Confirmation> {
  if (policy.expect) {
    const { count, tolerance } = policy.expect;
    if (Math.abs(planned - count) > tolerance) {
      throw new RefusedError(
        `the plan counts ${planned} document(s), the operator expected ${count}${tolerance ? ` ± ${tolerance}` : ''}: nothing written`,
        SafetyRule.expectedCount,
      );
    }
  }
  if (policy.env !== TargetEnv.production) {
    return policy.expect ? { by: 'expected-count', expected: policy.expect.count, tolerance: policy.expect.tolerance } : { by: 'not-required' };
  }
  if (policy.yes && policy.expect) {
    return { by: 'expected-count', expected: policy.expect.count, tolerance: policy.expect.tolerance };
  }
  if (!policy.ask) {
    throw new RefusedError(
      `${what} in production needs the operator's confirmation: the database name typed in a terminal or, without one, a yes given ahead with the count of a dry run`,
      SafetyRule.productionConfirmation,
    );
  }
  const answer = await policy.ask(`This will ${what} in PRODUCTION. Type the database name (${database}) to go on:`);
  if (answer.trim() !== database) {
    throw new RefusedError('confirmation did not match the database name: nothing written', SafetyRule.productionConfirmation);
  }
  return { by: 'typed-database-name' };
}
