import { setTimeout as sleep } from 'node:timers/promises';

export type Iteration = { next: 'continue' } | { next: 'stop'; exitCode: number };

export interface Schedule {
  intervalMs: number;
  log(line: string): void;
}

/** One interval of a schedule: the clock cut into intervals from the epoch, so the same on every host. */
export interface Interval {
  start: Date;
  ms: number;
}

export function intervalAt(time: number, ms: number): Interval {
  return { start: new Date(Math.floor(time / ms) * ms), ms };
}

/**
 * Runs `iterate` every interval, one at a time, until SIGINT or SIGTERM (exit
 * 0) or until an iteration says stop. The first run starts at once; the next
 * ones at the start of each interval, the same instants on every host, so
 * schedulers on several hosts meet on each interval and one of them can claim
 * it. A run that overruns its interval is followed at once by the next, never overlapped.
 */
export async function runEvery(schedule: Schedule, iterate: (n: number, interval: Interval) => Promise<Iteration>): Promise<number> {
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stop.signal.aborted) schedule.log(`${signal} received: stopping the schedule after the current run`);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (let n = 1; !stop.signal.aborted; n++) {
      const interval = intervalAt(Date.now(), schedule.intervalMs);
      const outcome = await iterate(n, interval);
      if (outcome.next === 'stop') return outcome.exitCode;
      if (stop.signal.aborted) break;
      const next = new Date(Math.max(Date.now(), interval.start.getTime() + interval.ms));
      schedule.log(`next run at ${next.toISOString()}`);
      await sleep(next.getTime() - Date.now(), undefined, { signal: stop.signal }).catch(() => undefined);
    }
    schedule.log('schedule stopped');
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
