import type { PlanReport } from './plan.ts';
import type { RunRecord, RunStep } from './run-record.ts';

/** What a run tells its onlooker (the CLI's renderer), step by step. */
export interface RunObserver {
  stepStarted(step: RunStep): void;
  stepProgress(step: RunStep, done: number, total: number): void;
  stepFinished(step: RunStep, record: Readonly<RunRecord>): void;
  stepSkipped(step: RunStep, reason: string): void;
  stepFailed(step: RunStep, message: string): void;
  planned(report: PlanReport): void;
  notice(message: string): void;
}

export const silentObserver: RunObserver = {
  stepStarted() {},
  stepProgress() {},
  stepFinished() {},
  stepSkipped() {},
  stepFailed() {},
  planned() {},
  notice() {},
};
