import { defineTask } from '../src/engine/task.ts';
import { connectedSourceIn } from '../src/presence/connected.ts';
import { presenceModelOf } from '../src/presence/model.ts';
import { planGhosts } from '../src/presence/plans.ts';
import { reconcilePresenceParams } from '../src/presence/settings.ts';
import { checkPresenceTarget } from '../src/presence/target.ts';

/**
 * Ghosts set offline: online in the database, not connected to the platform's
 * Socket.IO deployment, and inactive past a grace period. The connected set is
 * read once, and an incomplete answer refuses the run: unknown is never offline.
 */
export default defineTask({
  id: 'presence-reconcile',
  version: 1,
  description: 'Set offline the ghosts: online in the database, not connected to Socket.IO, inactive past a grace period',
  mode: 'repeatable',
  params: reconcilePresenceParams,
  async plan({ db, params, now, log, services }) {
    const model = presenceModelOf(params);
    await checkPresenceTarget(db, model, [model.online.field, model.lastSeenField]);
    const source = connectedSourceIn(services, 'presence-reconcile');
    const connected = await source.fetch();
    log.warn(
      `connected set read at ${connected.at.toISOString()} from ${source.description}: ${connected.userIds.size} user(s), ${connected.sockets} socket(s) on ${connected.servers} server(s)`,
    );
    const { cutoff, plan } = planGhosts(model, connected, now, params.graceSeconds, params.fixMissing);
    log.info(`ghosts: online, not connected, last active before ${cutoff.toISOString()} (grace ${params.graceSeconds} s)`);
    return plan;
  },
});
