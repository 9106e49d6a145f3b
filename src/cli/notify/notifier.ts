import { setTimeout as sleep } from 'node:timers/promises';
import { SilentObserver } from '../../engine/observer.ts';
import type { RunObserver } from '../../engine/ports.ts';
import type { NotificationDelivery, RunRecord } from '../../engine/run-record.ts';
import { eventOf, payloadOf, type NotifyEvent } from './events.ts';
import type { Receiver } from './receivers.ts';

/** How hard one notification is tried: a slow or failing receiver costs the run nothing but this. */
export interface DeliveryPolicy {
  attempts: number;
  /** Per attempt. */
  timeoutMs: number;
  /** Before the second attempt; doubled before each next one. */
  backoffMs: number;
}

export const DEFAULT_DELIVERY: DeliveryPolicy = { attempts: 3, timeoutMs: 5_000, backoffMs: 500 };

/** What a flush leaves: every delivery's outcome, and how many were still under way when it gave up. */
export interface Settled {
  deliveries: NotificationDelivery[];
  gaveUp: number;
}

const GIVEN_UP = 'given up at exit, still unanswered';

/**
 * Posts a run's events to its receivers in the background, as the record's status changes: the run never waits
 * for a receiver, and a receiver's failure never fails the run. Each receiver gets the events in order (its own
 * queue), so "succeeded" never overtakes "started".
 */
/** Tells nothing of the steps; only the record's status changes matter to receivers. */
export class Notifier extends SilentObserver implements RunObserver {
  private readonly queues = new Map<Receiver, Promise<void>>();
  private readonly last = new Map<string, NotifyEvent>();
  private readonly deliveries: NotificationDelivery[] = [];
  private readonly stop = new AbortController();
  private underWay = 0;

  constructor(
    private readonly receivers: readonly Receiver[],
    private readonly policy: DeliveryPolicy = DEFAULT_DELIVERY,
  ) {
    super();
  }

  statusChanged(record: Readonly<RunRecord>): void {
    const event = eventOf(record.status, this.last.get(record._id));
    this.last.set(record._id, event);
    const body = JSON.stringify(payloadOf(event, record, new Date()));
    for (const receiver of this.receivers) {
      this.underWay++;
      const queued = (this.queues.get(receiver) ?? Promise.resolve()).then(async () => {
        this.deliveries.push(await this.deliver(receiver, event, body));
        this.underWay--;
      });
      this.queues.set(receiver, queued);
    }
  }

  /**
   * Waits for the deliveries under way, at most `capMs`; then gives up on the rest (their attempts are aborted),
   * so a receiver that hangs delays the end of a run by no more than that.
   */
  async flush(capMs: number): Promise<Settled> {
    const all = Promise.all(this.queues.values());
    const cap = new AbortController();
    await Promise.race([all, sleep(capMs, undefined, { signal: cap.signal }).catch(() => undefined)]);
    cap.abort();
    const gaveUp = this.underWay;
    this.stop.abort();
    await all;
    return { deliveries: [...this.deliveries], gaveUp };
  }

  private async deliver(receiver: Receiver, event: NotifyEvent, body: string): Promise<NotificationDelivery> {
    const outcome = { event, receiver: receiver.name };
    let error = '';
    for (let attempt = 1; attempt <= this.policy.attempts; attempt++) {
      if (this.stop.signal.aborted) return { ...outcome, delivered: false, attempts: attempt - 1, error: GIVEN_UP };
      const answer = await this.post(receiver, body);
      if (answer.ok) return { ...outcome, delivered: true, attempts: attempt };
      error = answer.error;
      if (!answer.retry) return { ...outcome, delivered: false, attempts: attempt, error };
      if (attempt < this.policy.attempts) {
        await sleep(this.policy.backoffMs * 2 ** (attempt - 1), undefined, { signal: this.stop.signal }).catch(() => undefined);
      }
    }
    return { ...outcome, delivered: false, attempts: this.policy.attempts, error };
  }

  /** One attempt. Errors are described by kind, never by their message: fetch's may quote the URL. */
  private async post(receiver: Receiver, body: string): Promise<{ ok: true } | { ok: false; retry: boolean; error: string }> {
    const timeout = AbortSignal.timeout(this.policy.timeoutMs);
    try {
      const response = await fetch(receiver.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.any([timeout, this.stop.signal]),
      });
      await response.body?.cancel();
      if (response.ok) return { ok: true };
      // A receiver that refuses the request (400, 403, 404: a wrong or revoked URL) says the same the next time.
      return { ok: false, retry: response.status >= 500 || response.status === 429, error: `HTTP ${response.status}` };
    } catch (thrown) {
      if (this.stop.signal.aborted) return { ok: false, retry: false, error: GIVEN_UP };
      if (timeout.aborted) return { ok: false, retry: true, error: `no answer within ${this.policy.timeoutMs / 1000} s` };
      const code = (thrown as { cause?: { code?: unknown } }).cause?.code;
      return { ok: false, retry: true, error: typeof code === 'string' ? `network error (${code})` : 'network error' };
    }
  }
}
