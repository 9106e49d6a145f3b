import { z } from 'zod';
import { defineTask } from '../src/engine/task.ts';
import { presenceModelOf } from '../src/presence/model.ts';
import { planStaleUsers } from '../src/presence/plans.ts';
import { DEFAULT_STALE_MINUTES, minutesSchema, presenceModelParams } from '../src/presence/settings.ts';
import { checkPresenceTarget } from '../src/presence/target.ts';

/** Online users inactive for more than `minutes` set offline; the cut-off is fixed when the run starts. */
export default defineTask({
  id: 'presence-stale',
  version: 1,
  description: 'Set offline the online users inactive for more than `minutes` (default 30)',
  mode: 'repeatable',
  params: z.object({ ...presenceModelParams, minutes: minutesSchema.default(DEFAULT_STALE_MINUTES) }),
  async plan({ db, params, now, log }) {
    const { minutes, ...settings } = params;
    const model = presenceModelOf({ ...settings, staleMinutes: minutes });
    const { cutoff, plan } = planStaleUsers(model, now, minutes);
    log.info(`cut-off ${cutoff.toISOString()}: online users last active before it (${minutes} min ago) go offline`);
    await checkPresenceTarget(db, model, [model.online.field, model.lastSeenField]);
    return plan;
  },
});
