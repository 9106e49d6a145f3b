import type { TaskLogger } from '../engine/task.ts';
import type { PresenceTarget } from './target.ts';

/** Said in every presence run's audit, so the operator learns why some users were not touched. */
export function reportMalformed(target: PresenceTarget, log: TaskLogger): void {
  if (target.malformed > 0) {
    log.warn(`${target.malformed} document(s) have presence fields of the wrong type: left untouched (see presence status)`);
  }
}
