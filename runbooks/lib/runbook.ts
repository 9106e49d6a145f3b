/** Exit codes of the runbooks: those of the CLI (DESIGN.md), passed on from the step that failed. */
export const RunbookExit = { success: 0, failed: 1, usage: 2, database: 3, refused: 4, interrupted: 130 } as const;

/** A runbook stops here: why, the exit code it maps to, and the step that failed. */
export class RunbookError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly step?: string,
  ) {
    super(message);
    this.name = 'RunbookError';
  }
}

export class RunbookUsageError extends RunbookError {
  constructor(message: string) {
    super(message, RunbookExit.usage);
    this.name = 'RunbookUsageError';
  }
}

/**
 * What a runbook did, one line per step: printed as it goes, or kept for the
 * end when the runbook is quiet (cron: silent when all is well).
 */
export class Journal {
  readonly lines: string[] = [];

  constructor(private readonly echo = true) {}

  ok(step: string, text: string): void {
    this.write(`ok    ${step}: ${text}`);
  }

  skip(step: string, text: string): void {
    this.write(`skip  ${step}: ${text}`);
  }

  fail(step: string, text: string): void {
    this.write(`FAIL  ${step}: ${text}`);
  }

  note(text: string): void {
    this.write(`      ${text}`);
  }

  summary(text: string): void {
    this.write(`summary: ${text}`);
  }

  /** A quiet journal's lines, when they are needed after all. */
  flushTo(stream: NodeJS.WritableStream): void {
    if (!this.echo) for (const line of this.lines) stream.write(line + '\n');
  }

  private write(line: string): void {
    this.lines.push(line);
    if (this.echo) process.stdout.write(line + '\n');
  }
}

/**
 * Runs a runbook's body and turns its outcome into an exit code, like the CLI:
 * bad input is one line and exit 2; a failed step ends with one line naming
 * the step and why. Never a stack trace. Sets `process.exitCode` (no
 * `process.exit`), so output is flushed.
 */
export async function runbook(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    const failure =
      error instanceof RunbookError ? error : new RunbookError(error instanceof Error ? error.message : String(error), RunbookExit.failed);
    const where = failure.step ? `stopped at ${failure.step} (exit ${failure.exitCode}): ` : '';
    process.stderr.write(`${name}: ${where}${failure.message}\n`);
    process.exitCode = failure.exitCode;
  }
}
