import type { Document } from 'mongodb';
import type { FieldChange, TaskPlan } from '../engine/task.ts';
import type { ConnectedSet } from './connected.ts';
import { isOnlineValue, offlineValueOf, onlineValueOf, presenceFields, type PresenceModel } from './model.ts';
import { valueAt } from '../engine/paths.ts';
import { offlineFilter, onlineFilter, staleCutoff, staleFilter } from './queries.ts';
import { userIdText } from '../socketio/user-id.ts';

/** Going offline: the online field and every companion field, nothing else (last activity stays true). */
export function offlineChange(model: PresenceModel): FieldChange {
  return { set: { [model.online.field]: offlineValueOf(model), ...model.offlineSet } };
}

/**
 * `fields` holds the last-activity field although it is never written: the
 * write is compare-and-set on it, so a user active again since the plan is left alone.
 */
function offlinePlan(model: PresenceModel, filter: Document): TaskPlan {
  const change = offlineChange(model);
  return { collection: model.collection, filter, fields: presenceFields(model), change: () => change };
}

/** Everyone online set offline: the fix for ghost statuses after a restart. */
export function planEveryoneOffline(model: PresenceModel): TaskPlan {
  return offlinePlan(model, onlineFilter(model));
}

export interface StaleUsersPlan {
  /** Fixed at plan time from the run's clock, and shown to the operator. */
  cutoff: Date;
  plan: TaskPlan;
}

/** Online users last active more than `minutes` before `now` set offline. */
export function planStaleUsers(model: PresenceModel, now: Date, minutes: number): StaleUsersPlan {
  const cutoff = staleCutoff(now, minutes);
  return { cutoff, plan: offlinePlan(model, staleFilter(model, cutoff)) };
}

export interface GhostsPlan {
  /** Online users last active before it and not connected are ghosts; fixed from the run's clock. */
  cutoff: Date;
  plan: TaskPlan;
}

/**
 * Ghosts set offline: online in the database, not in the connected set, and
 * last active before the grace period (a user who connected after the set was
 * read is active since, so never a ghost). With `fixMissing`, connected users
 * shown offline are set online too. The filter narrows on the server; the
 * connected set decides each document as the plan streams them.
 */
export function planGhosts(model: PresenceModel, connected: ConnectedSet, now: Date, graceSeconds: number, fixMissing: boolean): GhostsPlan {
  const cutoff = new Date(now.getTime() - graceSeconds * 1000);
  const isConnected = (document: Document) => connected.userIds.has(userIdText(document._id) ?? '');
  const offline = offlineChange(model);
  const ghosts = staleFilter(model, cutoff);
  if (!fixMissing) {
    return {
      cutoff,
      plan: { collection: model.collection, filter: ghosts, fields: presenceFields(model), change: () => offline, keep: (document) => !isConnected(document) },
    };
  }
  const online: FieldChange = { set: { [model.online.field]: onlineValueOf(model) } };
  const shownOnline = (document: Document) => isOnlineValue(model, valueAt(document, model.online.field));
  return {
    cutoff,
    plan: {
      collection: model.collection,
      filter: { $or: [ghosts, offlineFilter(model)] },
      fields: presenceFields(model),
      change: (document) => (shownOnline(document) ? offline : online),
      keep: (document) => shownOnline(document) !== isConnected(document),
    },
  };
}
