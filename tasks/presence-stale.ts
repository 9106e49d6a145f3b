import { defineTask } from '../src/engine/task.ts';
import { presenceModelOf } from '../src/presence/model.ts';
import { planStaleUsers } from '../src/presence/plans.ts';
import { stalePresenceParams } from '../src/presence/settings.ts';
import { checkPresenceTarget } from '../src/presence/target.ts';

/** Online users inactive for more than `minutes` set offline; the cut-off is fixed when the run starts. */
export default defineTask({
  id: 'presence-stale',
  version: 1,
  description: 'Set offline the online users inactive for more than `minutes` (default 30)',
  mode: 'repeatable',
  params: stalePresenceParams,
  async plan({ db, params, now, log }) {
    const model = presenceModelOf(params);
    const { cutoff, plan } = planStaleUsers(model, now, params.minutes);
    log.info(`cut-off ${cutoff.toISOString()}: online users last active before it (${params.minutes} min ago) go offline`);
    await checkPresenceTarget(db, model, [model.online.field, model.lastSeenField]);
    return plan;
  },
});
