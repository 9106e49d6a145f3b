import { insideWindow, type MaintenanceWindow, type WindowState } from './safety.ts';
import { RunLimit, type LimitStop } from './run-record.ts';

/** What a run does when its window ends: pause until a window opens again (the default), or stop, resumable. */
export const WindowEnd = { pause: 'pause', stop: 'stop' } as const;
export type WindowEnd = (typeof WindowEnd)[keyof typeof WindowEnd];

/** How long a run may write, and in which windows: checked before each write batch. */
export interface RunLimits {
  startedAt: Date;
  maxRuntimeMs?: number;
  /** The configured windows, with where the run stood against them when confirmed; absent before the confirm step. */
  windows: readonly MaintenanceWindow[];
  window: WindowState | null;
}

/**
 * The limit the run has reached at `now`, if any. Only a run confirmed inside a window stops at its end: one run
 * outside the windows on purpose (`--outside-window`, a reason audited) was never meant to stay within them.
 */
export function limitReached(limits: RunLimits, now: Date): LimitStop | undefined {
  const { window, maxRuntimeMs } = limits;
  // The maximum runtime first: it also ends a run paused for its window.
  if (maxRuntimeMs !== undefined && now.getTime() - limits.startedAt.getTime() >= maxRuntimeMs) {
    return {
      limit: RunLimit.maxRuntime,
      at: now,
      message: `the maximum runtime (${formatDuration(maxRuntimeMs)}) was reached: stopped after the current batch; resume it to go on`,
    };
  }
  if (window !== null && window.inside && limits.windows.length > 0 && !limits.windows.some((w) => insideWindow(w, now))) {
    return {
      limit: RunLimit.windowEnded,
      at: now,
      message: `the maintenance window (${window.windows.join(', ')}) ended: stopped after the current batch; resume it in the next window`,
    };
  }
  return undefined;
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
