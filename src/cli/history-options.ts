import { InvalidArgumentError } from 'commander';
import { RunStatus } from '../engine/run-record.ts';

// The parsers of `history` and `backups prune` options, apart from the commands so `--help` loads neither.

export function parseStatus(raw: string): RunStatus {
  if (!Object.values(RunStatus).includes(raw as RunStatus)) {
    throw new InvalidArgumentError(`status must be one of ${Object.values(RunStatus).join(', ')}`);
  }
  return raw as RunStatus;
}

const ageFormat = /^(\d{1,6})([mhd])$/;

/** `30d`, `12h`, `90m`: the moment that long ago. */
export function parseAge(raw: string): Date {
  const relative = ageFormat.exec(raw.trim());
  if (!relative) throw new InvalidArgumentError(`expected an age like 30d, 12h or 90m, got "${raw.slice(0, 40)}"`);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 'm' | 'h' | 'd'];
  return new Date(Date.now() - Number(relative[1]) * unit);
}

export function parseSince(raw: string): Date {
  if (ageFormat.test(raw.trim())) return parseAge(raw);
  const date = new Date(raw);
  if (Number.isNaN(date.getTime())) throw new InvalidArgumentError(`expected a date (2026-11-01) or an age (30m, 12h, 7d)`);
  return date;
}
