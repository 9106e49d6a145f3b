import type { Document } from 'mongodb';
import type { FieldChange, TaskPlan } from '../engine/task.ts';
import { offlineValueOf, presenceFields, type PresenceModel } from './model.ts';
import { onlineFilter, staleCutoff, staleFilter } from './queries.ts';

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
