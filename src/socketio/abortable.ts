/**
 * `work`, or its signal's reason as soon as the signal aborts. Socket.IO's
 * adapters do not all honour `timeout()` (the Redis adapter waits for its own
 * `requestsTimeout`), so the caller's deadline is enforced here, whatever the
 * adapter. A failure of `work` after the abort is settled here too, never
 * left unhandled.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The reason AbortSignal.timeout() gives. */
export function isTimeout(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'TimeoutError';
}
