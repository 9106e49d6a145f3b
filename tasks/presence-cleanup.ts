import { defineTask } from '../src/engine/task.ts';
import { presenceModelOf } from '../src/presence/model.ts';
import { planEveryoneOffline } from '../src/presence/plans.ts';
import { presenceModelParams } from '../src/presence/settings.ts';
import { checkPresenceTarget } from '../src/presence/target.ts';

/** Everyone online set offline: the fix for ghost statuses after a crash or restart. */
export default defineTask({
  id: 'presence-cleanup',
  version: 1,
  description: 'Set every online user offline (ghost statuses after a restart)',
  mode: 'repeatable',
  params: presenceModelParams,
  async plan({ db, params }) {
    const model = presenceModelOf(params);
    await checkPresenceTarget(db, model, [model.online.field]);
    return planEveryoneOffline(model);
  },
});
