import type { RunObserver } from './ports.ts';

/** An onlooker that shows nothing: for `--json`, and for callers that only want the record. */
export const silentObserver: RunObserver = {
  stepStarted() {},
  stepProgress() {},
  stepFinished() {},
  stepSkipped() {},
  stepFailed() {},
  stepNotReached() {},
  planned() {},
  notice() {},
};
