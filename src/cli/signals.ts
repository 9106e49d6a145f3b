/**
 * SIGINT/SIGTERM abort the run, which stops after its current batch and is
 * audited as interrupted. A second signal exits at once.
 */
export function abortOnSignals(onFirst: () => void = () => {}): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const handler = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`presence: ${signal} again, exiting now\n`);
      process.exit(130);
    }
    onFirst();
    process.stderr.write(`presence: ${signal} received, stopping after the current batch…\n`);
    controller.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
