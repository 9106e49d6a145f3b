import { RunKind, type RunRecord } from '../engine/run-record.ts';

/**
 * The run whose backup a run writes from: its own, or for a continuation (`resume` of a run whose runner was gone)
 * that of the first run of the chain it continues. Restoring that backup undoes every part of the run.
 */
export async function backupRunOf(runId: string, recordOf: (runId: string) => Promise<RunRecord | undefined>): Promise<string> {
  const seen = new Set<string>();
  let current = runId;
  for (;;) {
    seen.add(current);
    const record = await recordOf(current);
    const continued = record?.kind === RunKind.run ? record.continues?.runId : undefined;
    if (continued === undefined || seen.has(continued)) return current;
    current = continued;
  }
}
