import type { HealthCheck } from '../../presence/health-check.ts';
import { duration, table } from '../../views/format.ts';

const MARK: Record<HealthCheck['result'], string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };

/** The checks as a table, details indented under their check, and a verdict line. */
export function healthLines(checks: readonly HealthCheck[]): string[] {
  const rows = table(
    ['CHECK', 'RESULT', 'TIME', 'SUMMARY'],
    checks.map((check) => [check.check, MARK[check.result], duration(check.ms), check.summary]),
  );
  const lines = [rows[0]!];
  checks.forEach((check, index) => {
    lines.push(rows[index + 1]!);
    for (const detail of check.details) lines.push(`    ${detail}`);
  });
  const failed = checks.filter((check) => check.result === 'fail').map((check) => check.check);
  const warned = checks.filter((check) => check.result === 'warn').map((check) => check.check);
  lines.push(
    '',
    failed.length > 0
      ? `FAILED: ${failed.join(', ')}`
      : warned.length > 0
        ? `passed with warnings: ${warned.join(', ')}`
        : 'all checks passed',
  );
  return lines;
}
