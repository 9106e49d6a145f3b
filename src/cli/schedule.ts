import { setTimeout as sleep } from 'node:timers/promises';

export type Iteration = { next: 'continue' } | { next: 'stop'; exitCode: number };

export interface Schedule {
  intervalMs: number;
  log(line: string): void;
}

/**
 * Runs `iterate` every interval, one at a time, until SIGINT or SIGTERM (exit
 * 0) or until an iteration says stop. Runs start on the interval's beat; one
 * that overruns it is followed at once by the next, never overlapped.
 */
export async function runEvery(schedule: Schedule, iterate: (n: number) => Promise<Iteration>): Promise<number> {
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stop.signal.aborted) schedule.log(`${signal} received: stopping the schedule after the current run`);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (let n = 1; !stop.signal.aborted; n++) {
      const started = Date.now();
      const outcome = await iterate(n);
      if (outcome.next === 'stop') return outcome.exitCode;
      if (stop.signal.aborted) break;
      const next = new Date(Math.max(Date.now(), started + schedule.intervalMs));
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
