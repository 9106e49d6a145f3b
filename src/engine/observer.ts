import type { RunObserver } from './ports.ts';

/**
 * An onlooker that shows nothing: for `--json`, for callers that only want
 * the record, and the base of onlookers that care about a few events only.
 * Its methods are own properties, so `{ ...silentObserver, notice }` works too.
 */
export class SilentObserver implements RunObserver {
  stepStarted = (): void => {};
  stepProgress = (): void => {};
  stepFinished = (): void => {};
  stepSkipped = (): void => {};
  stepFailed = (): void => {};
  stepNotReached = (): void => {};
  planned = (): void => {};
  notice = (): void => {};
}

export const silentObserver: RunObserver = new SilentObserver();

/** Several onlookers of one run (the renderer, and whoever tells others), each told everything, in order. */
export function fanOut(...observers: readonly RunObserver[]): RunObserver {
  return {
    stepStarted: (step) => observers.forEach((observer) => observer.stepStarted(step)),
    stepProgress: (step, done, total) => observers.forEach((observer) => observer.stepProgress(step, done, total)),
    stepFinished: (step, record) => observers.forEach((observer) => observer.stepFinished(step, record)),
    stepSkipped: (step, reason) => observers.forEach((observer) => observer.stepSkipped(step, reason)),
    stepFailed: (step, message) => observers.forEach((observer) => observer.stepFailed(step, message)),
    stepNotReached: (step) => observers.forEach((observer) => observer.stepNotReached(step)),
    planned: (report) => observers.forEach((observer) => observer.planned(report)),
    notice: (message) => observers.forEach((observer) => observer.notice(message)),
    statusChanged: (record) => observers.forEach((observer) => observer.statusChanged?.(record)),
    runProgress: (progress) => observers.forEach((observer) => observer.runProgress?.(progress)),
  };
}
