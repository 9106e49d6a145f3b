import { StepState, type Reached, type StepResult } from '../../src/engine/run-record.ts';

/** A step's figures; fails the test, naming the step, when the run did not reach it. */
export function reachedStep<T>(name: string, step: StepResult<T>): Reached<T> {
  if (step.state !== StepState.done) throw new Error(`the run did not reach ${name}`);
  return step;
}
