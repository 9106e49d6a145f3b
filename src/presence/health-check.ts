import { privilegeErrorOf } from '../engine/privileges.ts';

/** The outcome of one health check, as `presence test` reports it. */
export const CheckResult = {
  pass: 'pass',
  warn: 'warn',
  fail: 'fail',
  /** Not run: an earlier check made it meaningless (e.g. no collection). */
  skip: 'skip',
} as const;
export type CheckResult = (typeof CheckResult)[keyof typeof CheckResult];

export interface HealthCheck {
  check: string;
  result: CheckResult;
  summary: string;
  details: string[];
  ms: number;
}

export type CheckOutcome = Omit<HealthCheck, 'check' | 'ms'>;

export function outcome(result: CheckResult, summary: string, details: string[] = []): CheckOutcome {
  return { result, summary, details };
}

/** Runs one check; whatever it throws becomes its failure, never a crash of the whole health check. */
export async function runCheck(check: string, work: () => Promise<CheckOutcome>): Promise<HealthCheck> {
  const started = performance.now();
  let result: CheckOutcome;
  try {
    result = await work();
  } catch (thrown) {
    // A refused privilege is named, not quoted: the server's message repeats the whole command.
    const error = privilegeErrorOf(thrown) ?? thrown;
    result = outcome(CheckResult.fail, error instanceof Error ? error.message.split('\n')[0]! : String(error));
  }
  return { check, ...result, ms: Math.round(performance.now() - started) };
}

export function skipped(check: string, reason: string): HealthCheck {
  return { check, result: CheckResult.skip, summary: reason, details: [], ms: 0 };
}
