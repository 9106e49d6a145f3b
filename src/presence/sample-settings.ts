import { z } from 'zod';

export const DEFAULT_SAMPLES_RETENTION_DAYS = 30;
/** Ten years: beyond it a retention is a typo, not a policy. */
const MAX_SAMPLES_RETENTION_DAYS = 3650;

/** How long presence samples are kept; 0 records none. Not a task parameter: no run depends on it. */
export const sampleSettingsSchema = z.object({
  retentionDays: z.preprocess(
    // A flag or an env var is text: "30" means 30; anything else is left for the number check to refuse.
    (value) => (typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value),
    z
      .number({ error: 'must be a whole number of days' })
      .int('must be a whole number of days')
      .min(0, 'must be 0 (no samples) or more days')
      .max(MAX_SAMPLES_RETENTION_DAYS, `must be at most ${MAX_SAMPLES_RETENTION_DAYS} days (ten years)`),
  ).default(DEFAULT_SAMPLES_RETENTION_DAYS),
});

export type SampleSettings = z.output<typeof sampleSettingsSchema>;
