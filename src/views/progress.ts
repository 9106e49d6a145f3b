import { outcomeOf, ProgressState, type RunProgress, type RunRecord } from '../engine/run-record.ts';
import { count, duration } from './format.ts';

/** The time left as an operator reads it: a number only while the run writes at its pace. */
export function etaOf(progress: RunProgress): string {
  if (progress.done >= progress.planned) return 'done';
  if (progress.state === ProgressState.paused) return 'paused: no ETA until resumed';
  if (progress.state === ProgressState.throttled) return 'throttled by back-off: no ETA';
  if (progress.etaSeconds === null) return 'ETA once the rate is known';
  return `${duration(progress.etaSeconds * 1000)} left`;
}

export function rateOf(progress: RunProgress): string {
  return progress.docsPerSecond === null ? '- docs/s' : `${progress.docsPerSecond} docs/s`;
}

/** `120/400 (30%) · 10.2 docs/s · 28 s left`. */
export function progressLine(progress: RunProgress): string {
  const percent = progress.planned === 0 ? 100 : Math.floor((progress.done / progress.planned) * 100);
  return `${count(progress.done)}/${count(progress.planned)} (${percent}%) · ${rateOf(progress)} · ${etaOf(progress)}`;
}

/**
 * `120/400 (30%) · … · step 2 of 3` for a run of several steps: the progress counts entries across the steps in the
 * order they are written (a restore's, from the last step), so the step under way is where the count falls.
 */
export function runProgressLine(record: Pick<RunRecord, 'steps'>, progress: RunProgress): string {
  const line = progressLine(progress);
  let before = 0;
  for (const step of record.steps ?? []) {
    const plan = outcomeOf(step.plan);
    if (plan?.step === undefined) continue;
    before += plan.count;
    if (progress.done < before || before === progress.planned) return `${line} · step ${plan.step.index} of ${plan.step.of}`;
  }
  return line;
}
