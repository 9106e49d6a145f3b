import { setTimeout as sleep } from 'node:timers/promises';

export interface UntilOptions {
  /** How long the condition has to come true; default 30 s. */
  withinMs?: number;
  /** How often it is asked; default every 100 ms. */
  everyMs?: number;
  /** What the failure should show besides `what`, e.g. a child's output so far. */
  detail?: () => string;
}

/**
 * Waits for something another process does (a scheduler's next run, a lock
 * that expires), asking again until it is true, and fails naming what never
 * happened.
 */
export async function until(what: string, condition: () => Promise<boolean> | boolean, options: UntilOptions = {}): Promise<void> {
  const { withinMs = 30_000, everyMs = 100, detail } = options;
  const deadline = Date.now() + withinMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}${detail ? `\n${detail()}` : ''}`);
    await sleep(everyMs);
  }
}
