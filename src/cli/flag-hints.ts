import { SafetyRule } from '../engine/errors.ts';
import type { RunRecord } from '../engine/run-record.ts';

/** The engine names the rule that refused; only the command line knows which flags answer it. */
const flagsOfRule: Partial<Record<SafetyRule, string>> = {
  [SafetyRule.maintenanceWindow]: '--outside-window "<reason>"',
  [SafetyRule.expectedCount]: '--expect',
  [SafetyRule.productionConfirmation]: 'in scripts: pass --yes and --expect <count>',
  [SafetyRule.backupSpace]: 'free some space, or --backup-dir <a directory with room>',
};

/** The record as the operator sees it: a refusal's message ends with the flags that answer its rule. */
export function withFlagHint(record: RunRecord): RunRecord {
  const error = record.error;
  const hint = error?.rule === undefined ? undefined : flagsOfRule[error.rule];
  if (error === undefined || hint === undefined) return record;
  return { ...record, error: { ...error, message: `${error.message} (${hint})` } };
}
