import type { RunRecord } from '../../engine/run-record.ts';
import type { Notifier } from './notifier.ts';

/** How long the end of a run may wait for its notifications before giving up on them. */
export const FLUSH_CAP_MS = 3_000;

/**
 * After the run: waits (at most FLUSH_CAP_MS) for its notifications, says in one line on stderr which were not
 * delivered, and adds how each went to the run's record. None of it changes the run's outcome or exit code.
 */
export async function settleNotifications(
  notifier: Notifier,
  store: { recordNotifications(record: RunRecord): Promise<void> },
  record: RunRecord | undefined,
): Promise<void> {
  const { deliveries, gaveUp } = await notifier.flush(FLUSH_CAP_MS);
  const failed = deliveries.filter((delivery) => !delivery.delivered);
  if (failed.length > 0) {
    const why = failed.map((delivery) => `${delivery.event} to ${delivery.receiver}: ${delivery.error} (${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'})`).join('; ');
    const late = gaveUp > 0 ? `, ${gaveUp} given up after ${FLUSH_CAP_MS / 1000} s at exit` : '';
    process.stderr.write(`presence: ${failed.length} of ${deliveries.length} notifications not delivered${late}: ${why}\n`);
  }
  if (record === undefined) return;
  record.notifications = deliveries;
  // A database gone by now already decided the run's outcome; the deliveries are in the output either way.
  await store.recordNotifications(record).catch(() => undefined);
}
