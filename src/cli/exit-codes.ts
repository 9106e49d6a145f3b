import { ExitCode, exitCodeOf } from '../engine/errors.ts';
import { RunStatus, type RunRecord } from '../engine/run-record.ts';

/** The only place a result becomes an exit code (DESIGN.md). */
export function exitCodeOfRecord(record: RunRecord): ExitCode {
  switch (record.status) {
    case RunStatus.succeeded:
      return ExitCode.success;
    case RunStatus.refused:
      return ExitCode.refused;
    default:
      return record.error?.code ?? ExitCode.failed;
  }
}

export { exitCodeOf as exitCodeOfError };
